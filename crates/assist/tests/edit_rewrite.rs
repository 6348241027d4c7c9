//! Model rewrites: the plan from the index, the syntax gate (retry once, then drop and report),
//! concurrency and cancellation with scripted rewriters, and the real tiny model end to end.

mod edit_support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use edit_support::Repo;
use expect_test::expect;
use hearth_assist::edit::{
    EditEngine, EditError, EditOutcome, EditRequest, ModelRewriter, PromptFormat, RewriteStats, RewriteTask, Rewriter, Rewritten, Scope,
    Workspace,
};
use hearth_base::CancelToken;

const GEOMETRY_PY: &str = "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n";

/// Answers from a script, in order; records the attempts it was asked for.
struct Scripted {
    answers: VecDeque<(String, bool)>,
    attempts: Arc<Mutex<Vec<u32>>>,
}

impl Scripted {
    fn boxed(answers: &[(&str, bool)]) -> (Box<dyn Rewriter>, Arc<Mutex<Vec<u32>>>) {
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let answers = answers.iter().map(|(a, c)| (a.to_string(), *c)).collect();
        (Box::new(Scripted { answers, attempts: attempts.clone() }), attempts)
    }
}

impl Rewriter for Scripted {
    fn rewrite(&mut self, task: &RewriteTask<'_>, _: &CancelToken) -> Result<Rewritten, EditError> {
        self.attempts.lock().unwrap().push(task.attempt);
        let (text, complete) = self.answers.pop_front().expect("no scripted answer left");
        Ok(Rewritten { text, complete, stats: RewriteStats { generated_tokens: 10, steps: 4, ..Default::default() } })
    }
}

/// A deterministic "model": appends a review comment to every region.
struct Marker;

impl Rewriter for Marker {
    fn rewrite(&mut self, task: &RewriteTask<'_>, _: &CancelToken) -> Result<Rewritten, EditError> {
        std::thread::sleep(std::time::Duration::from_millis(5));
        Ok(Rewritten { text: format!("{}# reviewed\n", task.original), complete: true, stats: RewriteStats::default() })
    }
}

fn selection_of_area() -> Scope {
    Scope::Selection { path: "geometry.py".into(), range: 0..GEOMETRY_PY.find("\n\n").unwrap() }
}

fn run_with(repo: &Repo, scope: Scope, instruction: &str, rewriters: &mut [Box<dyn Rewriter>]) -> Result<EditOutcome, EditError> {
    let workspace = Workspace::new(&repo.root).unwrap();
    let index = repo.index();
    let request = EditRequest::new(instruction, scope);
    EditEngine::new(&workspace, Some(&index)).run(&request, rewriters, &CancelToken::new(), &mut |_| {})
}

#[test]
fn a_rewrite_that_breaks_the_syntax_is_retried_then_dropped_and_reported() {
    let repo = Repo::new(&[("geometry.py", GEOMETRY_PY)]);
    let broken = "def area(w, h:\n    return w * h\n";
    let (rewriter, attempts) = Scripted::boxed(&[(broken, true), (broken, true)]);
    let outcome = run_with(&repo, selection_of_area(), "add type hints", &mut [rewriter]).unwrap();
    assert_eq!(*attempts.lock().unwrap(), [1, 2]);
    assert!(outcome.files.is_empty(), "a broken rewrite must not be proposed");
    assert_eq!(outcome.report.regions_rewritten, 0);
    expect![[r#"
        0 file(s) changed, 0 region(s) rewritten, 0 retried, 1 dropped
        dropped geometry.py:1-2: the rewrite does not parse (1 new tree-sitter error(s)); tried twice
        decoding: 20 tokens in 8 steps (2.50 tokens/step), 0/0 proposed tokens accepted, 0.00s
    "#]]
    .assert_eq(&outcome.report.to_string());
    assert_eq!(repo.read("geometry.py"), GEOMETRY_PY);
}

#[test]
fn a_retry_that_parses_is_accepted() {
    let repo = Repo::new(&[("geometry.py", GEOMETRY_PY)]);
    let fixed = "def area(w: float, h: float) -> float:\n    return w * h\n";
    let (rewriter, attempts) = Scripted::boxed(&[("def area(w: float, h: float -> float:\n    return w * h\n", true), (fixed, true)]);
    let outcome = run_with(&repo, selection_of_area(), "add type hints", &mut [rewriter]).unwrap();
    assert_eq!(*attempts.lock().unwrap(), [1, 2]);
    assert_eq!((outcome.report.regions_rewritten, outcome.report.retried), (1, 1));
    expect![[r#"
        --- a/geometry.py
        +++ b/geometry.py
        @@ -1,4 +1,4 @@
        -def area(w, h):
        +def area(w: float, h: float) -> float:
             return w * h


    "#]]
    .assert_eq(&outcome.unified_diff().lines().map(|l| format!("{}\n", l.trim_end())).collect::<String>());
    // The LSP edit: one line replaced, in bytes of the old text.
    let edits = outcome.files[0].text_edits();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].range, 0..16);
    assert_eq!(edits[0].new_text, "def area(w: float, h: float) -> float:\n");
}

#[test]
fn an_unfinished_rewrite_is_dropped() {
    let repo = Repo::new(&[("geometry.py", GEOMETRY_PY)]);
    let (rewriter, _) = Scripted::boxed(&[("def area(w, h):\n", false), ("def area(w, h):\n", false)]);
    let outcome = run_with(&repo, selection_of_area(), "add type hints", &mut [rewriter]).unwrap();
    assert!(outcome.files.is_empty());
    assert!(outcome.report.dropped[0].reason.contains("did not finish"), "{:?}", outcome.report.dropped);
}

const HTTP_PY: &str = r#"import urllib.request


def http_get(url):
    return urllib.request.urlopen(url).read()


def http_post(url, data):
    return urllib.request.urlopen(url, data).read()
"#;

const USERS_PY: &str = r#"from net import http_get


def fetch_user(name):
    body = http_get("https://example.com/users/" + name)
    return body.decode()


def fetch_all(names):
    return [fetch_user(n) for n in names]
"#;

fn http_repo() -> Repo {
    Repo::new(&[("net.py", HTTP_PY), ("users.py", USERS_PY), ("math_utils.py", "def add(a, b):\n    return a + b\n")])
}

#[test]
fn the_plan_names_definitions_and_callers_with_reasons() {
    let repo = http_repo();
    let workspace = Workspace::new(&repo.root).unwrap();
    let index = repo.index();
    let engine = EditEngine::new(&workspace, Some(&index));
    let plan = engine.plan(&EditRequest::new("add a timeout parameter to `http_get` and update its callers", Scope::Repository)).unwrap();
    expect![[r#"
        plan: model rewrite of 3 region(s) (limit 16)
          net.py:4-5  definition of `http_get` (function); uses `http_get`
          users.py:1-3  uses `http_get`
          users.py:4-6  uses `http_get`
    "#]]
    .assert_eq(&plan.to_string());

    let mut request = EditRequest::new("add a timeout parameter to `http_get` and update its callers", Scope::Repository);
    request.limit = 1;
    let plan = engine.plan(&request).unwrap();
    assert_eq!((plan.regions.len(), plan.omitted), (1, 2));
    assert_eq!(plan.regions[0].reason, "definition of `http_get` (function); uses `http_get`");
    assert!(plan.to_string().contains("2 more left out: raise --limit"), "{plan}");

    // Nothing named: the chunks BM25 ranks highest, and the plan says so.
    let plan = engine.plan(&EditRequest::new("add a timeout to every urlopen helper", Scope::Repository)).unwrap();
    assert!(plan.regions.iter().all(|r| r.path == "net.py" && r.reason.starts_with("matches the instruction (BM25")), "{plan}");
    assert!(!plan.regions.is_empty());
    assert!(plan.notes.iter().any(|n| n.contains("BM25")));
}

#[test]
fn regions_run_concurrently_with_the_same_result() {
    let repo = http_repo();
    let instruction = "add a timeout parameter to http_get and update its callers";
    let one = run_with(&repo, Scope::Repository, instruction, &mut [Box::new(Marker)]).unwrap();
    let three = run_with(&repo, Scope::Repository, instruction, &mut [Box::new(Marker), Box::new(Marker), Box::new(Marker)]).unwrap();
    assert_eq!(one.report.regions_rewritten, 3);
    assert_eq!(one.files, three.files);
    assert_eq!(three.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["net.py", "users.py"]);
    assert_eq!(three.files[1].new.matches("# reviewed").count(), 2);
}

#[test]
fn cancelling_stops_the_edit_and_rewrites_need_a_model() {
    struct CancelOnFirst(CancelToken);
    impl Rewriter for CancelOnFirst {
        fn rewrite(&mut self, _: &RewriteTask<'_>, _: &CancelToken) -> Result<Rewritten, EditError> {
            self.0.cancel();
            Err(EditError::Cancelled)
        }
    }
    let repo = http_repo();
    let workspace = Workspace::new(&repo.root).unwrap();
    let index = repo.index();
    let engine = EditEngine::new(&workspace, Some(&index));
    let request = EditRequest::new("add a timeout parameter to http_get", Scope::Repository);
    let cancel = CancelToken::new();
    let err = engine.run(&request, &mut [Box::new(CancelOnFirst(cancel.clone()))], &cancel, &mut |_| {}).unwrap_err();
    assert!(matches!(err, EditError::Cancelled), "{err}");
    let err = engine.run(&request, &mut [], &CancelToken::new(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, EditError::NoModel), "{err}");
}

fn tiny_model() -> hearth_model::LoadedModel {
    hearth_model::load(&hearth_model::testing::model_path("tiny-coder"), hearth_model::DeviceChoice::Cpu).unwrap()
}

#[test]
fn the_real_model_goes_through_plan_prompt_gate_and_report() {
    let model = tiny_model();
    let rewriter = ModelRewriter::new(&model, None).unwrap();
    assert_eq!(rewriter.format(), PromptFormat::Plain, "tiny-coder is a base model without ChatML tokens");
    let repo = Repo::new(&[("geometry.py", GEOMETRY_PY)]);
    let outcome = run_with(&repo, selection_of_area(), "rename the parameters to width and height", &mut [Box::new(rewriter)]).unwrap();
    let report = &outcome.report;
    assert_eq!(report.regions_rewritten + report.dropped.len(), 1, "{report}");
    assert!(report.stats.generated_tokens > 0 && report.stats.steps > 0, "{report}");
    for change in &outcome.files {
        let lang = hearth_syntax::Language::Python;
        assert!(hearth_syntax::error_count(lang, &change.new).unwrap() <= hearth_syntax::error_count(lang, &change.old).unwrap());
        assert!(change.new.ends_with("return 2 * (w + h)\n"), "only the selected region may change:\n{}", change.new);
    }
    eprintln!("{}{report}", outcome.unified_diff());
}

#[test]
fn speculation_from_the_region_does_not_change_the_output() {
    let model = tiny_model();
    let mut rewriter = ModelRewriter::new(&model, None).unwrap();
    rewriter.set_prefix_reuse(false);
    let original = "def perimeter(w, h):\n    total = 2 * (w + h)\n    return total\n";
    let task = RewriteTask {
        instruction: "keep it as it is",
        path: "geometry.py",
        language: Some(hearth_syntax::Language::Python),
        original,
        attempt: 1,
    };
    rewriter.set_speculation(false);
    let (plain, plain_tokens) = rewriter.generate(&task, &CancelToken::new()).unwrap();
    rewriter.set_speculation(true);
    let (fast, fast_tokens) = rewriter.generate(&task, &CancelToken::new()).unwrap();
    assert_eq!(plain_tokens, fast_tokens);
    assert_eq!(plain.text, fast.text);
    assert_eq!(plain.stats.proposed, 0);
    assert!(fast.stats.proposed > 0, "lookup over the region proposed nothing");
    assert!(fast.stats.steps <= plain.stats.steps);
}
