//! `as-trained`: the model as the cell evaluated it — adapters unmerged over their base (NF4 for
//! QLoRA), a full fine-tune's weights frozen in their trained dtype. The baseline of every Δ.

use super::{held_bytes, ServeCtx, Served, ServingForm, AS_TRAINED};
use crate::method::Method;
use crate::model::Decoder;
use anyhow::Result;

pub struct AsTrained;

impl ServingForm for AsTrained {
    fn name(&self) -> &'static str {
        AS_TRAINED
    }
    fn doc(&self) -> &'static str {
        "as trained and evaluated: adapters unmerged over their base (NF4 for QLoRA), a full fine-tune's weights as they trained"
    }
    fn not_for(&self, _method: Method) -> Option<&'static str> {
        None
    }
    fn serve(&self, trained: &Decoder, _ctx: &ServeCtx) -> Result<Served> {
        Ok(Served {
            model: trained.clone(),
            bytes: held_bytes(trained),
            bytes_of: "tensors",
        })
    }
}
