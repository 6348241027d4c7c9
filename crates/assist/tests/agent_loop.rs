//! The agent loop's mechanics with a scripted model (fixed turns) over a real git repository and a
//! real on-disk index: search, read, a gated edit rejected and retried, a rename across files, a
//! `run` that asks first, old output dropped to fit, cancellation, and the step budget.

#[path = "edit_support/mod.rs"]
mod support;

use hearth_assist::agent::{self, format::ToolFormat, AgentEvent, AgentRequest, AgentStop, Approval, Budget, Confirm, ScriptedModel};
use hearth_assist::edit::Workspace;
use hearth_base::CancelToken;
use support::Repo;

const CONFIG: &str = "def parse_config(path):\n    with open(path) as f:\n        return f.read()\n";
const MAIN: &str = "from config import parse_config\n\n\ndef main():\n    print(parse_config('app.toml'))\n";

fn call(name: &str, args: serde_json::Value) -> String {
    format!("<tool_call>\n{}\n</tool_call>", serde_json::json!({"name": name, "arguments": args}))
}

/// Records what it was asked and answers `answer`.
struct Recorder {
    asked: Vec<String>,
    answer: Approval,
}

impl Confirm for Recorder {
    fn confirm(&mut self, command: &str) -> Approval {
        self.asked.push(command.to_string());
        self.answer
    }
}

fn results(transcript: &[AgentEvent]) -> Vec<(String, bool, String)> {
    transcript
        .iter()
        .filter_map(|e| match e {
            AgentEvent::ToolResult { name, ok, text, .. } => Some((name.clone(), *ok, text.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn search_read_gated_edit_rename_and_a_confirmed_run() {
    let repo = Repo::new(&[("config.py", CONFIG), ("main.py", MAIN)]);
    let index = repo.index();
    let workspace = Workspace::new(&repo.root).unwrap();
    let turns = vec![
        format!("I will look for the parser first.\n{}", call("search", serde_json::json!({"query": "parse config"}))),
        call("read_file", serde_json::json!({"path": "config.py"})),
        // Breaks the syntax: the gate refuses it and says why.
        call(
            "edit",
            serde_json::json!({"path": "config.py", "search": "        return f.read()\n", "replace": "        return f.read(\n"}),
        ),
        call(
            "edit",
            serde_json::json!({"path": "config.py", "search": "        return f.read()\n", "replace": "        return f.read().strip()\n"}),
        ),
        call("rename", serde_json::json!({"from": "parse_config", "to": "load_config"})),
        call("run", serde_json::json!({"command": "grep -c load_config config.py main.py"})),
        "Renamed parse_config to load_config and stripped the text it returns.".to_string(),
    ];
    let mut model = ScriptedModel::new(ToolFormat::Hermes, turns);
    let request = AgentRequest {
        task: "rename parse_config to load_config and strip what it returns".into(),
        files: vec!["config.py".into()],
        commands: vec!["grep -c load_config config.py main.py".into()],
        ..Default::default()
    };
    let mut confirm = Recorder { asked: Vec::new(), answer: Approval::Once };
    let mut seen = Vec::new();
    let outcome =
        agent::run(&request, &mut model, &workspace, Some(&index), &mut confirm, &CancelToken::new(), &mut |e| seen.push(e.clone()))
            .unwrap();

    assert_eq!(outcome.stop, AgentStop::Answered);
    assert_eq!(outcome.steps, 7);
    assert_eq!(outcome.answer.as_deref(), Some("Renamed parse_config to load_config and stripped the text it returns."));
    assert_eq!(seen, outcome.transcript, "every event is streamed as it happens");
    let results = results(&outcome.transcript);
    let names: Vec<&str> = results.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["search", "read_file", "edit", "edit", "rename", "run"]);
    assert!(results[0].1 && results[0].2.contains("config.py:1-3"), "{:?}", results[0]);
    assert!(results[1].2.contains("    3         return f.read()"), "{:?}", results[1]);
    assert!(!results[2].1 && results[2].2.contains("edit rejected: config.py would not parse as python"), "{:?}", results[2]);
    assert!(results[3].1, "{:?}", results[3]);
    assert!(results[4].1 && results[4].2.contains("in 2 file(s)"), "{:?}", results[4]);
    // The command ran on a copy with the edits: both files already say load_config.
    assert_eq!(confirm.asked, ["grep -c load_config config.py main.py"]);
    assert!(results[5].1 && results[5].2.contains("config.py:1\nmain.py:2"), "{:?}", results[5]);

    let files: Vec<(&str, &str)> = outcome.files.iter().map(|f| (f.path.as_str(), f.new.as_str())).collect();
    assert_eq!(
        files,
        [
            ("config.py", "def load_config(path):\n    with open(path) as f:\n        return f.read().strip()\n"),
            ("main.py", "from config import load_config\n\n\ndef main():\n    print(load_config('app.toml'))\n"),
        ]
    );
    assert_eq!(repo.read("config.py"), CONFIG, "nothing is written until the user accepts");
    assert_eq!(repo.read("main.py"), MAIN);
}

#[test]
fn a_denied_run_and_an_unknown_command_go_back_to_the_model() {
    let repo = Repo::new(&[("config.py", CONFIG)]);
    let workspace = Workspace::new(&repo.root).unwrap();
    let turns = vec![
        call("run", serde_json::json!({"command": "pytest"})),
        call("run", serde_json::json!({"command": "rm -rf /"})),
        "Done.".into(),
    ];
    let mut model = ScriptedModel::new(ToolFormat::Hermes, turns);
    let request = AgentRequest { task: "test it".into(), commands: vec!["pytest".into()], ..Default::default() };
    let mut confirm = Recorder { asked: Vec::new(), answer: Approval::Deny };
    let outcome = agent::run(&request, &mut model, &workspace, None, &mut confirm, &CancelToken::new(), &mut |_| {}).unwrap();
    let results = results(&outcome.transcript);
    assert!(results[0].2.contains("the user declined to run `pytest`"), "{:?}", results[0]);
    // `rm -rf /` is not in the run tool's enum: the format's check rejects the call before any tool runs.
    assert_eq!(results.len(), 1);
    assert_eq!(outcome.malformed_calls, 1);
    let error = outcome.transcript.iter().find_map(|e| match e {
        AgentEvent::FormatError { message } => Some(message.clone()),
        _ => None,
    });
    assert!(error.as_deref().is_some_and(|m| m.contains("rm -rf /")), "{error:?}");
    assert_eq!(confirm.asked, ["pytest"]);
}

#[test]
fn the_step_budget_and_cancellation_stop_the_loop() {
    let repo = Repo::new(&[("config.py", CONFIG)]);
    let workspace = Workspace::new(&repo.root).unwrap();
    let reads = || (0..10).map(|_| call("read_file", serde_json::json!({"path": "config.py"}))).collect::<Vec<_>>();
    let mut model = ScriptedModel::new(ToolFormat::Hermes, reads());
    let request = AgentRequest { task: "loop".into(), budget: Budget { max_steps: 3, ..Budget::default() }, ..Default::default() };
    let mut confirm = Recorder { asked: Vec::new(), answer: Approval::Deny };
    let outcome = agent::run(&request, &mut model, &workspace, None, &mut confirm, &CancelToken::new(), &mut |_| {}).unwrap();
    assert_eq!((outcome.stop, outcome.steps), (AgentStop::StepBudget, 3));
    assert!(matches!(outcome.transcript.last(), Some(AgentEvent::Note { text }) if text.contains("step budget (3)")));

    let cancel = CancelToken::new();
    let mut model = ScriptedModel::new(ToolFormat::Hermes, reads());
    let request = AgentRequest { task: "loop".into(), ..Default::default() };
    let mut results = 0;
    let err = agent::run(&request, &mut model, &workspace, None, &mut confirm, &cancel, &mut |e| {
        if matches!(e, AgentEvent::ToolResult { .. }) {
            results += 1;
            if results == 2 {
                cancel.cancel();
            }
        }
    })
    .unwrap_err();
    assert!(matches!(err, hearth_assist::agent::AgentError::Cancelled), "{err}");
    assert_eq!(results, 2);
}

#[test]
fn old_tool_output_is_dropped_with_a_marker_to_fit_the_context() {
    let big: String =
        (0..150).map(|i| format!("x{i} = {i}  # a line of the file that fills the context, and more words to make it longer\n")).collect();
    let repo = Repo::new(&[("big.py", &big)]);
    let workspace = Workspace::new(&repo.root).unwrap();
    let turns = vec![
        call("read_file", serde_json::json!({"path": "big.py"})),
        call("read_file", serde_json::json!({"path": "big.py", "start_line": 2})),
        "Read it twice.".into(),
    ];
    let mut model = ScriptedModel::new(ToolFormat::Hermes, turns);
    model.context = 6_000;
    let request = AgentRequest { task: "read".into(), budget: Budget { turn_tokens: 256, ..Budget::default() }, ..Default::default() };
    let mut confirm = Recorder { asked: Vec::new(), answer: Approval::Deny };
    let outcome = agent::run(&request, &mut model, &workspace, None, &mut confirm, &CancelToken::new(), &mut |_| {}).unwrap();
    assert_eq!(outcome.stop, AgentStop::Answered);
    let notes: Vec<&str> = outcome
        .transcript
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Note { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("dropped the output of an earlier `read_file` call"), "{notes:?}");

    // With a context too small for even the latest output, the session stops and says so.
    let mut model = ScriptedModel::new(ToolFormat::Hermes, vec![call("read_file", serde_json::json!({"path": "big.py"})), "x".into()]);
    model.context = 2_000;
    let outcome = agent::run(&request, &mut model, &workspace, None, &mut confirm, &CancelToken::new(), &mut |_| {}).unwrap();
    assert_eq!(outcome.stop, AgentStop::ContextFull);
}
