//! IVR flows: what tenants design (a JSON document of named steps), the checks a flow must pass
//! before it is saved, and the interpreter that runs it for one call.
//!
//! The interpreter is sans IO: the edge feeds it "playback finished", "key pressed", "timer
//! fired" with the time in milliseconds, and carries out the [`Action`]s it returns (play these
//! prompts, start a timer, enqueue, transfer, record a voicemail, hang up).

mod flow;
mod interpreter;
mod speech;

pub use flow::{Flow, FlowProblem, MAX_STEPS, Prompt, Reference, Step};
pub use interpreter::{Action, Ivr, Outcome};
pub use speech::{SYSTEM_PROMPTS, number_words};
