//! baresip, Debian's SIP softphone, as an agent's desk phone in tests: it registers with digest
//! auth, answers every call automatically and sends a 1 kHz tone from a WAV file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running baresip; dropping it kills it.
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    dir: PathBuf,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether baresip can run here; outside CI a missing one is a loud skip, in CI a failure.
pub fn available() -> bool {
    if Command::new("baresip").arg("-h").output().is_ok() {
        return true;
    }
    assert!(!crate::in_ci(), "baresip is mandatory in CI (infra/services.sh installs baresip)");
    eprintln!("\n*** SKIPPED agent phone tests: baresip is not installed (infra/services.sh tools) ***\n");
    false
}

/// Writes a mono 8 kHz 16-bit WAV of a sine tone (baresip's file source takes only that).
pub fn tone_wav(path: &Path, frequency: f32, secs: u32) -> std::io::Result<()> {
    let samples = secs * 8000;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let v = (i as f32 * 2.0 * std::f32::consts::PI * frequency / 8000.0).sin() * 9000.0;
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    std::fs::write(path, out)
}

static STARTED: AtomicU32 = AtomicU32::new(0);

impl Baresip {
    /// Starts baresip registering at `registrar` as `user`.
    pub fn start(registrar: SocketAddr, user: &str, password: &str) -> std::io::Result<Baresip> {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sb-baresip-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let tone = dir.join("tone.wav");
        tone_wav(&tone, 1000.0, 120)?;
        // Media below the edges' test ranges and the ephemeral ports.
        let rtp = 6_000 + (std::process::id() % 100) as u16 * 40 + (n % 4) as u16 * 10;
        // Port 0: baresip binds its UDP and TCP SIP sockets itself (probing a free port here and
        // handing it over raced other tests for the TCP port) and puts the real port in Contact.
        let config = format!(
            "poll_method\t\tpoll\nsip_listen\t\t127.0.0.1:0\nrtp_ports\t\t{rtp}-{}\n\
audio_player\t\taubridge,nowhere\naudio_source\t\taufile,{}\naudio_alert\t\taubridge,nowhere\n\
module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule\t\t\taufile.so\nmodule\t\t\taubridge.so\n\
module_app\t\taccount.so\nmodule_app\t\tmenu.so\n",
            rtp + 9,
            tone.display()
        );
        std::fs::write(dir.join("config"), config)?;
        let account = format!(
            "<sip:{user}@{registrar};transport=udp>;auth_pass={password};answermode=auto;regint=300;audio_codecs=PCMU\n"
        );
        std::fs::write(dir.join("accounts"), account)?;
        std::fs::write(dir.join("contacts"), "")?;
        let log = std::fs::File::create(dir.join("out.log"))?;
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .arg("-s")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Baresip { child, dir })
    }

    /// What it printed so far, SIP trace included (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default()
    }

    /// Stops it the way a person quits: its calls are hung up with BYE first.
    pub fn quit(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
