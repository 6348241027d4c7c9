//! Synthetic models: every format loads back through the real loaders, runs, and carries the
//! same seeded weights (so formats agree up to their rounding).

use hearth_model::synthetic::{synthesize, Format, Shape};
use hearth_model::{testing, DeviceChoice, Logits, Tensor};

fn logits(spec: &str, prompt: &[u32]) -> (Tensor, hearth_model::LoadedModel) {
    let model = hearth_model::load(spec, DeviceChoice::Cpu).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let mut cache = model.new_cache(64).unwrap();
    let out = model.model.forward(prompt, &mut cache, Logits::All).unwrap();
    (out, model)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn every_format_loads_runs_and_agrees() {
    let tokenizer = std::path::PathBuf::from(testing::model_path("tiny-coder")).join("tokenizer.json");
    // Hidden 256 so Q4_K really is Q4_K (256-element blocks); vocab padded past the 4096 real tokens.
    let shape = Shape::parse("custom:256:2:4:2:512:5000").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for name in Format::NAMES {
        let format = Format::parse(name).unwrap();
        let path = synthesize(&shape, format, &dir.path().join(name), 7, &tokenizer).unwrap();
        let spec = path.display().to_string();
        let model = hearth_model::load(&spec, DeviceChoice::Cpu).unwrap();
        assert_eq!(model.info.vocab_size, 5000);
        let fim = model.info.fim.clone().expect("FIM tokens survive the padding");
        assert_eq!((fim.prefix, fim.suffix, fim.middle), (1, 3, Some(2)));
        let prompt = model.fim_prompt("def add(a, b):\n    return ", "\n").unwrap();
        assert!(prompt.len() > 5);
        assert_eq!(model.tokenizer.decode(&model.tokenizer.encode("fn main() {}")), "fn main() {}");
        let (out, model) = logits(&spec, &prompt);
        assert_eq!(out.dims(), &[prompt.len(), 5000], "{name}");
        let finite = out.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().all(|x| x.is_finite());
        assert!(finite, "{name}: logits are not finite");
        results.push((name, model.info.format.clone(), out));
    }
    let formats: Vec<&str> = results.iter().map(|(_, f, _)| f.as_str()).collect();
    assert_eq!(formats, ["safetensors f32", "safetensors f32", "safetensors f32", "gguf q8_0", "gguf q4k", "gguf f32"]);

    // Same seed, same weights: each format is the F32 model up to its rounding.
    let reference = &results[2].2;
    let scale = reference.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    for (name, _, out) in &results {
        let diff = max_abs_diff(out, reference) / scale;
        let bound = match **name {
            "f32" => 0.0,
            "gguf-f32" => 1e-6,
            "f16" | "bf16" | "q8_0" => 0.1,
            _ => 0.5,
        };
        assert!(diff <= bound, "{name}: logits differ from f32 by {diff} of their scale (bound {bound})");
    }
    // A different seed gives different weights.
    let other = synthesize(&shape, Format::F32, &dir.path().join("seed8"), 8, &tokenizer).unwrap();
    let (out8, _) = logits(&other.display().to_string(), &[1, 20, 30, 3, 2]);
    let (out7, _) = logits(&dir.path().join("f32").display().to_string(), &[1, 20, 30, 3, 2]);
    assert!(max_abs_diff(&out7, &out8) > 1e-3);
}

#[test]
fn bad_tokenizer_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("tokenizer.json");
    std::fs::write(&bogus, "{}").unwrap();
    let shape = Shape::parse("custom:64:1:4:2:64:100").unwrap();
    let err = synthesize(&shape, Format::F32, &dir.path().join("m"), 1, &bogus).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json") && err.contains("model.vocab"), "{err}");
    let small = std::path::PathBuf::from(testing::model_path("tiny-coder")).join("tokenizer.json");
    let err = synthesize(&shape, Format::F32, &dir.path().join("m"), 1, &small).unwrap_err().to_string();
    assert!(err.contains("more than the shape's vocabulary"), "{err}");
}
