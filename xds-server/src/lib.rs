//! kubeplex control plane: inputs → translate → snapshot → xDS protocol.
#![forbid(unsafe_code)]

pub mod inputs;
pub mod sensitive;
pub mod token_mint;
