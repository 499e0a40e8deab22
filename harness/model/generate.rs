//! Greedy decoding with a KV cache, for evaluation and `ftbench generate`. It reuses the
//! decoder's own pieces ([`Decoder::qkv`], [`Decoder::block_out`], the same ops and layer
//! weights, whatever linears the method built); only attention reads cached keys and values.
//! The training path stays cache-free.

use super::decoder::Decoder;
use candle_core::{Result, Tensor, D};

/// Keys and values of every layer for the positions seen so far: (batch, kv_heads, len, head_dim).
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    pub fn new(model: &Decoder) -> Self {
        KvCache {
            layers: vec![None; model.layers.len()],
            len: 0,
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of a batch of one, repeated `n` times along the batch (to score several
    /// continuations of one context in one forward pass).
    pub fn repeat(&self, n: usize) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|slot| {
                slot.as_ref()
                    .map(|(k, v)| -> Result<(Tensor, Tensor)> {
                        let (b, h, l, d) = k.dims4()?;
                        if b != 1 {
                            candle_core::bail!("KvCache::repeat needs a batch of one, found {b}");
                        }
                        Ok((
                            k.broadcast_as((n, h, l, d))?.contiguous()?,
                            v.broadcast_as((n, h, l, d))?.contiguous()?,
                        ))
                    })
                    .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(KvCache { layers, len: self.len })
    }
}

/// Runs ids (batch, seq) u32 at positions cache.len().. through the model, extending the
/// cache, and returns the logits of the last position (batch, vocab).
pub fn forward_cached(model: &Decoder, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
    let x = cached_hidden(model, ids, cache)?;
    let (b, t, _) = x.dims3()?;
    let last = x.narrow(1, t - 1, 1)?;
    let h = model.rms_norm(&last, &model.norm)?.reshape((b, model.cfg.hidden_size))?;
    Ok(model.logits(&h)?.detach())
}

/// Like [`forward_cached`], but returns the logits of every position fed: (batch, seq, vocab).
/// Sequences of a batch may end in padding: attention is causal, so padding at the end never
/// changes the logits of the positions before it.
pub fn forward_cached_all(model: &Decoder, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
    let x = cached_hidden(model, ids, cache)?;
    let (b, t, h) = x.dims3()?;
    let x = model.rms_norm(&x, &model.norm)?.reshape((b * t, h))?;
    Ok(model.logits(&x)?.detach().reshape((b, t, ()))?)
}

/// The decoder's final hidden states (before the last norm) of `ids`, reading and extending
/// the cache.
fn cached_hidden(model: &Decoder, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
    let (_, t) = ids.dims2()?;
    if t == 0 {
        candle_core::bail!("forward_cached needs at least one token");
    }
    if cache.layers.len() != model.layers.len() {
        candle_core::bail!("KV cache made for {} layers, model has {}", cache.layers.len(), model.layers.len());
    }
    let start = cache.len;
    model.check_len(start + t)?;
    let mut x = model.embed_tokens(ids)?;
    // A sliding layer's cache keeps every position (its window masks the older ones).
    for (i, (layer, slot)) in model.layers.iter().zip(cache.layers.iter_mut()).enumerate() {
        let (q, k, v) = model.qkv(i, layer, &x, start)?;
        let (k, v) = match slot.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        let a = model.attention(i, &q, &k, &v, start)?;
        // Detached: with trainable adapters the graph of one step must not outlive it.
        *slot = Some((k.detach(), v.detach()));
        x = model.block_out(layer, &x, &a)?;
    }
    cache.len = start + t;
    Ok(x)
}

/// Greedy decoding with a KV cache: up to `max_new` tokens after `prompt`, stopping after
/// the first id in `stop` (which is included). Returns the new ids only.
pub fn greedy(model: &Decoder, prompt: &[u32], max_new: usize, stop: &[u32]) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        candle_core::bail!("greedy decoding needs a prompt of at least one token");
    }
    check_ids(model, prompt)?;
    let mut cache = KvCache::new(model);
    let mut out = Vec::with_capacity(max_new);
    let mut input = Tensor::new(prompt, model.device())?.unsqueeze(0)?;
    while out.len() < max_new {
        let logits = forward_cached(model, &input, &mut cache)?;
        let next = argmax_row(&logits)?;
        out.push(next);
        if stop.contains(&next) {
            break;
        }
        input = Tensor::new(&[next], model.device())?.unsqueeze(0)?;
    }
    Ok(out)
}

/// The reference greedy decoder: recomputes the whole sequence with the training forward
/// pass at every step (no cache). Same contract as [`greedy`].
pub fn greedy_uncached(model: &Decoder, prompt: &[u32], max_new: usize, stop: &[u32]) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        candle_core::bail!("greedy decoding needs a prompt of at least one token");
    }
    check_ids(model, prompt)?;
    let mut seq = prompt.to_vec();
    while seq.len() - prompt.len() < max_new {
        let ids = Tensor::new(seq.as_slice(), model.device())?.unsqueeze(0)?;
        let h = model.hidden_states(&ids)?;
        let last = h.narrow(1, seq.len() - 1, 1)?.reshape((1, model.cfg.hidden_size))?;
        let next = argmax_row(&model.logits(&last)?)?;
        seq.push(next);
        if stop.contains(&next) {
            break;
        }
    }
    Ok(seq[prompt.len()..].to_vec())
}

/// Logits of every position of `ids` (seq) with the training forward pass: (seq, vocab).
pub fn all_logits(model: &Decoder, ids: &[u32]) -> Result<Tensor> {
    check_ids(model, ids)?;
    let t = Tensor::new(ids, model.device())?.unsqueeze(0)?;
    let h = model.hidden_states(&t)?.reshape((ids.len(), model.cfg.hidden_size))?;
    model.logits(&h)
}

fn check_ids(model: &Decoder, ids: &[u32]) -> Result<()> {
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= model.cfg.vocab_size) {
        candle_core::bail!("token id {bad} is outside the model's vocabulary ({} tokens)", model.cfg.vocab_size);
    }
    Ok(())
}

/// Argmax of a (1, vocab) row.
fn argmax_row(logits: &Tensor) -> Result<u32> {
    logits.argmax(D::Minus1)?.flatten_all()?.get(0)?.to_scalar::<u32>()
}
