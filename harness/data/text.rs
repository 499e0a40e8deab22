//! A real text task made ready for a model: the prompt format applied (zero/few-shot, plain or
//! the model's chat template), every item tokenized, the held-out split cut, and training
//! examples with loss on the answer tokens only.

use super::item::{Answer, Dataset, Extract, Item, Message, Prompt};
use super::split::place;
use super::synthetic::Example;
use crate::load::Tokenizer;
use anyhow::{bail, Context, Result};
use rand::{rngs::StdRng, seq::index::sample, SeedableRng};

/// How items are shown to the model (the `shots` and `prompt_format` knobs).
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFormat {
    /// Solved training items put before each prompt (k-shot).
    pub shots: usize,
    /// Render with the model's chat template (`prompt_format: chat`).
    pub chat: bool,
}

/// How a held-out item is scored.
#[derive(Debug, Clone)]
pub enum Scoring {
    /// Log-likelihood of each choice's tokens after the context.
    Choice {
        conts: Vec<Vec<u32>>,
        /// Length of each choice in bytes, for acc_norm (lm-evaluation-harness's normalisation).
        cont_bytes: Vec<usize>,
        gold: usize,
    },
    /// Greedy output matched against the answers.
    Text { answers: Vec<String> },
}

/// One held-out item, tokenized.
#[derive(Debug, Clone)]
pub struct EvalItem {
    pub id: String,
    /// The prompt as rendered (for the record's sample of predictions).
    pub context: String,
    pub ctx: Vec<u32>,
    /// Each choice's text, or the gold answer's (for the record).
    pub labels: Vec<String>,
    pub scoring: Scoring,
    /// The gold continuation, teacher-forced: held-out loss and perplexity.
    pub gold: Example,
}

/// A dataset ready to train on and evaluate.
#[derive(Debug, Clone)]
pub struct TextTask {
    pub name: String,
    pub multiple_choice: bool,
    pub train: Vec<Example>,
    pub eval: Vec<EvalItem>,
    pub stop: Vec<String>,
    pub extract: Extract,
    pub eos: Vec<u32>,
    /// What the record says about the data.
    pub info: DataInfo,
}

/// The data a cell used, for its record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataInfo {
    pub task: String,
    /// (file, sha256) of every file read.
    pub files: Vec<(String, String)>,
    pub license: String,
    pub items_total: usize,
    pub train_items: usize,
    /// Held-out items in the split (the evaluation takes the first `eval_items`).
    pub held_out_items: usize,
    pub eval_items: usize,
    /// Items left out because prompt + answer exceed `seq_len` tokens.
    pub skipped_too_long: usize,
    pub shots: usize,
    pub prompt_format: String,
    /// The ids of the evaluated items, in evaluation order.
    pub held_out_ids: Vec<String>,
}

struct Rendered {
    context: String,
    /// Each continuation (MC: the choices; generative: the target).
    conts: Vec<String>,
}

impl TextTask {
    /// Prepares `ds`; `extra_train` are items that only train (the knowledge task's statements;
    /// then every dataset item is held out).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ds: &Dataset,
        extra_train: Option<Vec<Item>>,
        tok: &Tokenizer,
        eos: &[u32],
        format: &PromptFormat,
        seq_len: usize,
        eval_items: usize,
    ) -> Result<TextTask> {
        if ds.items.is_empty() {
            bail!("{}: holds no items", ds.name);
        }
        let template = chat_template(ds, tok, format)?;
        let (held, train_items) = split(ds, extra_train.as_deref())?;
        let fmt = Formatter {
            template,
            shots: format.shots,
            pool: &train_items,
            tok,
        };
        let mut skipped = 0;
        let mut train = Vec::with_capacity(train_items.len());
        for (n, item) in train_items.iter().enumerate() {
            let r = fmt
                .render(item, Some(n))
                .with_context(|| format!("{}: item {}", ds.name, item.id))?;
            let (ctx, cont) = fmt.pair(&r.context, &r.conts[gold_of(item)])?;
            match example(&ctx, &cont, eos_for(item, eos), seq_len) {
                Some(e) => train.push(e),
                None => skipped += 1,
            }
        }
        let mut eval = Vec::new();
        for item in &held {
            if eval.len() == eval_items {
                break;
            }
            let r = fmt.render(item, None).with_context(|| format!("{}: item {}", ds.name, item.id))?;
            match eval_item(&fmt, item, r, eos_for(item, eos), seq_len)? {
                Some(e) => eval.push(e),
                None => skipped += 1,
            }
        }
        if train.is_empty() || eval.is_empty() {
            bail!(
                "{}: no {} item fits seq_len {seq_len} (prompt + answer tokens); raise seq_len",
                ds.name,
                if train.is_empty() { "training" } else { "held-out" }
            );
        }
        let info = DataInfo {
            task: ds.name.clone(),
            files: ds.files.clone(),
            license: ds.license.clone(),
            items_total: ds.items.len() + extra_train.as_ref().map_or(0, Vec::len),
            train_items: train.len(),
            held_out_items: held.len(),
            eval_items: eval.len(),
            skipped_too_long: skipped,
            shots: format.shots,
            prompt_format: if template.is_some() { "chat".into() } else { "plain".into() },
            held_out_ids: eval.iter().map(|e| e.id.clone()).collect(),
        };
        Ok(TextTask {
            name: ds.name.clone(),
            multiple_choice: ds.is_multiple_choice(),
            train,
            eval,
            stop: ds.stop.clone(),
            extract: ds.extract,
            eos: eos.to_vec(),
            info,
        })
    }
}

/// The chat template, when the format or an item asks for one; an error when the model has none.
fn chat_template<'t>(ds: &Dataset, tok: &'t Tokenizer, format: &PromptFormat) -> Result<Option<&'t str>> {
    let wanted = format.chat || ds.items.iter().any(|i| matches!(i.prompt, Prompt::Messages(_)));
    match (wanted, &tok.chat_template) {
        (false, _) => Ok(None),
        (true, Some(t)) => Ok(Some(t.as_str())),
        (true, None) => bail!(
            "{}: {} needs the model's chat template, and {} has none",
            ds.name,
            if format.chat {
                "prompt_format: chat"
            } else {
                "a line with `messages`"
            },
            tok.source
        ),
    }
}

/// The held-out items in split order and the training items (data/split.rs); with
/// `extra_train`, every dataset item is held out and those train.
fn split<'a>(ds: &'a Dataset, extra_train: Option<&'a [Item]>) -> Result<(Vec<&'a Item>, Vec<&'a Item>)> {
    let mut held: Vec<(u64, &Item)> = Vec::new();
    let mut train_items: Vec<&Item> = Vec::new();
    match extra_train {
        Some(extra) => {
            held = ds.items.iter().map(|i| (place(&ds.split_key, &i.id).1, i)).collect();
            train_items.extend(extra.iter());
        }
        None => {
            for i in &ds.items {
                match place(&ds.split_key, &i.id) {
                    (true, key) => held.push((key, i)),
                    (false, _) => train_items.push(i),
                }
            }
        }
    }
    held.sort_by_key(|(k, _)| *k);
    if held.is_empty() || train_items.is_empty() {
        bail!(
            "{}: {} items are too few to cut a training and a held-out split",
            ds.name,
            ds.items.len()
        );
    }
    Ok((held.into_iter().map(|(_, i)| i).collect(), train_items))
}

fn gold_of(item: &Item) -> usize {
    match &item.answer {
        Answer::Choice { gold, .. } => *gold,
        Answer::Text { .. } => 0,
    }
}

/// Generative answers end with the end-of-sequence token, so the model learns to stop.
fn eos_for<'a>(item: &Item, eos: &'a [u32]) -> Option<u32> {
    match item.answer {
        Answer::Text { .. } => eos.first().copied(),
        Answer::Choice { .. } => None,
    }
}

/// tokens = ctx ++ cont (++ eos); loss on the predictions of cont (and eos). None when the
/// sequence is longer than seq_len positions.
fn example(ctx: &[u32], cont: &[u32], eos: Option<u32>, seq_len: usize) -> Option<Example> {
    let mut tokens = Vec::with_capacity(ctx.len() + cont.len() + 1);
    tokens.extend_from_slice(ctx);
    tokens.extend_from_slice(cont);
    tokens.extend(eos);
    let positions = tokens.len().checked_sub(1)?;
    if positions > seq_len || ctx.is_empty() || cont.is_empty() {
        return None;
    }
    let loss_mask = (0..positions).map(|p| p + 1 >= ctx.len()).collect();
    Some(Example { tokens, loss_mask })
}

fn eval_item(fmt: &Formatter, item: &Item, r: Rendered, eos: Option<u32>, seq_len: usize) -> Result<Option<EvalItem>> {
    let ctx = fmt.tok.encode(&r.context)?;
    let (scoring, gold_cont, labels) = match &item.answer {
        Answer::Choice { choices, gold } => {
            let conts = r
                .conts
                .iter()
                .map(|c| fmt.pair(&r.context, c).map(|p| p.1))
                .collect::<Result<Vec<_>>>()?;
            if conts.iter().any(|c| ctx.len() + c.len() - 1 > seq_len) {
                return Ok(None);
            }
            let gold_cont = conts[*gold].clone();
            let cont_bytes = r.conts.iter().map(|c| c.len()).collect();
            (
                Scoring::Choice {
                    conts,
                    cont_bytes,
                    gold: *gold,
                },
                gold_cont,
                choices.clone(),
            )
        }
        Answer::Text { answers, .. } => {
            let (_, cont) = fmt.pair(&r.context, &r.conts[0])?;
            (Scoring::Text { answers: answers.clone() }, cont, vec![answers[0].clone()])
        }
    };
    let Some(gold) = example(&ctx, &gold_cont, eos, seq_len) else {
        return Ok(None);
    };
    Ok(Some(EvalItem {
        id: item.id.clone(),
        context: r.context,
        ctx,
        labels,
        scoring,
        gold,
    }))
}

struct Formatter<'a> {
    template: Option<&'a str>,
    shots: usize,
    pool: &'a [&'a Item],
    tok: &'a Tokenizer,
}

impl Formatter<'_> {
    /// The k shots for an item: drawn from the training pool with a seed from the item's id
    /// (the same for every cell), never the item itself (`own` = its index in the pool).
    fn shots_for(&self, item: &Item, own: Option<usize>) -> Vec<&Item> {
        let n = self.pool.len() - usize::from(own.is_some());
        let k = self.shots.min(n);
        if k == 0 {
            return vec![];
        }
        let seed = place("shots", &item.id).1;
        let mut rng = StdRng::seed_from_u64(seed);
        sample(&mut rng, n, k)
            .into_iter()
            .map(|i| match own {
                Some(o) if i >= o => self.pool[i + 1],
                _ => self.pool[i],
            })
            .collect()
    }

    fn render(&self, item: &Item, own: Option<usize>) -> Result<Rendered> {
        let shots = self.shots_for(item, own);
        let conts_of = |i: &Item| -> Vec<String> {
            match &i.answer {
                Answer::Choice { choices, .. } => choices.clone(),
                Answer::Text { target, .. } => vec![target.clone()],
            }
        };
        let conts = conts_of(item);
        match self.template {
            None => {
                let Prompt::Text(p) = &item.prompt else {
                    unreachable!("messages always take the chat template")
                };
                let mut context = String::new();
                for s in shots {
                    let Prompt::Text(sp) = &s.prompt else { unreachable!() };
                    context.push_str(sp);
                    context.push_str(s.target());
                    context.push_str("\n\n");
                }
                context.push_str(p);
                Ok(Rendered { context, conts })
            }
            Some(template) => {
                let mut messages = Vec::new();
                for s in shots {
                    messages.extend(as_messages(&s.prompt));
                    messages.push(Message {
                        role: "assistant".into(),
                        content: s.target().trim_start().to_string(),
                    });
                }
                messages.extend(as_messages(&item.prompt));
                let context = render_chat(template, &messages)?;
                // In a chat the answer opens the assistant's turn: no leading space.
                let conts = conts.into_iter().map(|c| c.trim_start().to_string()).collect();
                Ok(Rendered { context, conts })
            }
        }
    }

    /// (context ids, continuation ids) as lm-evaluation-harness cuts them: the whole text is
    /// encoded and the context's ids taken off its front, so a merge across the boundary is
    /// tokenized as the model would see it; when the whole does not start with the context's
    /// ids, the continuation is encoded on its own.
    fn pair(&self, context: &str, cont: &str) -> Result<(Vec<u32>, Vec<u32>)> {
        let ctx = self.tok.encode(context)?;
        let whole = self.tok.encode(&format!("{context}{cont}"))?;
        if whole.len() > ctx.len() && whole.starts_with(&ctx) {
            return Ok((ctx.clone(), whole[ctx.len()..].to_vec()));
        }
        Ok((ctx, self.tok.encode_plain(cont)?))
    }
}

fn as_messages(p: &Prompt) -> Vec<Message> {
    match p {
        Prompt::Text(t) => vec![Message {
            role: "user".into(),
            content: t.clone(),
        }],
        Prompt::Messages(m) => m.clone(),
    }
}

/// Renders `messages` with a Hugging Face chat template (Jinja), opening the assistant's turn.
pub fn render_chat(template: &str, messages: &[Message]) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.add_function("raise_exception", |msg: String| -> std::result::Result<String, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
    });
    env.add_template("chat", template)
        .context("the model's chat template does not parse")?;
    let t = env.get_template("chat").expect("just added");
    t.render(minijinja::context! { messages => minijinja::value::Value::from(minijinja::value::Serde(messages)), add_generation_prompt => true, bos_token => "", eos_token => "" })
        .context("rendering the model's chat template")
}
