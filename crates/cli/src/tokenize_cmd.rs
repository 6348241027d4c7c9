//! `hearth tokenize`: the ids and pieces a model's tokenizer gives a text, exactly as prompts are
//! encoded (BOS first when the model wants one; special tokens spelled in the text stay text unless
//! `--special`). Reads only the tokenizer, not the weights.

use std::io::Read;

use anyhow::Context;
use clap::Args;

use crate::args::ModelChoice;

#[derive(Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    model: ModelChoice,
    /// The text, or `-` to read standard input.
    text: String,
    /// Encode special tokens spelled in the text (`<|im_start|>`) as their ids, as a chat template's
    /// output is encoded.
    #[arg(long)]
    special: bool,
    /// Leave out the BOS token the model's prompts start with.
    #[arg(long)]
    no_bos: bool,
    /// Print JSON: {"ids": [...], "pieces": [...], "count": N}.
    #[arg(long)]
    json: bool,
}

pub fn tokenize(args: TokenizeArgs) -> anyhow::Result<()> {
    let text = if args.text == "-" {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).context("reading standard input (it must be UTF-8)")?;
        buf
    } else {
        args.text.clone()
    };
    let model = args.model.resolve()?.spec.model;
    let loaded = hearth_model::load_tokenizer(&model).with_context(|| format!("loading the tokenizer of `{model}`"))?;
    let tok = &loaded.tokenizer;
    let mut ids: Vec<u32> = if args.no_bos { Vec::new() } else { loaded.bos().into_iter().collect() };
    ids.extend(if args.special { tok.encode_special(&text) } else { tok.encode(&text) });
    let pieces: Vec<String> = ids.iter().map(|&id| tok.token(id).unwrap_or_default()).collect();
    if args.json {
        let out = serde_json::json!({ "model": loaded.name, "ids": ids, "pieces": pieces, "count": ids.len() });
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for (id, piece) in ids.iter().zip(&pieces) {
            println!("{id:>8}  {piece:?}");
        }
        println!("{} tokens ({})", ids.len(), loaded.name);
    }
    Ok(())
}
