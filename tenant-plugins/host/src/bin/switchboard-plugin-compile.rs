//! The compile worker on its own (the `switchboard` binary has it as
//! `switchboard plugin compile-worker`): a component on stdin, the compiled artifact on stdout.

fn main() {
    let limits = switchboard_plugin_host::Limits::default();
    std::process::exit(switchboard_plugin_host::worker_main(limits.compile_memory_bytes, limits.compile_time));
}
