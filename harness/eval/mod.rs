//! Evaluation on the held-out split: teacher-forced loss, perplexity and token accuracy
//! (every task), multiple choice by log-likelihood and generative exact match (real tasks).

mod answerer;
mod choice;
mod greedy;
mod loss;
pub mod normalize;
mod result;
mod score;
pub mod stats;

pub use answerer::Answerer;
pub use choice::{argmax_first, choice_loglik, choice_logprobs, predictions, ChoiceLl};
pub use greedy::{generate_until, stop_at, Ended, Generation};
pub use loss::evaluate;
pub use result::{EvalResult, Prediction, TaskScore};
pub use score::{score_task, SAMPLES_KEPT};
