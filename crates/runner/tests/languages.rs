//! Hello world, stdin, compile errors and tracebacks in every language, with the real runtimes.

mod common;

use coderoom_runner::{Isolation, Limits, Phase, Termination};
use common::{request, run, run_with_stdin, runner};

#[test]
fn sandbox_uses_namespaces_here() {
    let (_dir, runner) = runner();
    assert_eq!(runner.isolation(), &Isolation::Namespaces);
}

#[test]
fn every_runtime_is_detected_with_its_version() {
    let (_dir, runner) = runner();
    for status in runner.runtimes() {
        let runtime = status
            .runtime
            .as_ref()
            .unwrap_or_else(|hint| panic!("{} missing: {hint}", status.label));
        assert!(
            runtime
                .version
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()),
            "{}: version {:?}",
            status.label,
            runtime.version
        );
    }
    let languages: Vec<_> = runner
        .runtimes()
        .iter()
        .map(|s| s.language.as_str())
        .collect();
    assert_eq!(languages, ["python", "javascript", "csharp"]);
}

#[test]
fn python_hello_and_stdin() {
    let (_dir, runner) = runner();
    let hello = run(
        &runner,
        request(
            "python",
            &[("main.py", "print('hello from python')\n")],
            Limits::default(),
        ),
    );
    assert_eq!(
        hello.stdout, "hello from python\n",
        "stderr: {}",
        hello.stderr
    );
    assert!(hello.outcome.success, "{:?}", hello.outcome);

    let greet = run_with_stdin(
        &runner,
        request(
            "python",
            &[("main.py", "name = input('Name? ')\nprint(f'Hi {name}!')\n")],
            Limits::default(),
        ),
        "Ada\n",
    );
    assert_eq!(greet.stdout, "Name? Hi Ada!\n", "stderr: {}", greet.stderr);
}

#[test]
fn python_imports_a_second_file() {
    let (_dir, runner) = runner();
    let result = run(
        &runner,
        request(
            "python",
            &[
                ("main.py", "from lib.greet import hi\nprint(hi('you'))\n"),
                ("lib/greet.py", "def hi(who):\n    return f'hi {who}'\n"),
            ],
            Limits::default(),
        ),
    );
    assert_eq!(result.stdout, "hi you\n", "stderr: {}", result.stderr);
}

#[test]
fn javascript_hello_and_stdin() {
    let (_dir, runner) = runner();
    let hello = run(
        &runner,
        request(
            "javascript",
            &[("main.js", "console.log('hello from node')\n")],
            Limits::default(),
        ),
    );
    assert_eq!(
        hello.stdout, "hello from node\n",
        "stderr: {}",
        hello.stderr
    );
    assert!(hello.outcome.success, "{:?}", hello.outcome);

    let program = "const rl = require('readline').createInterface({ input: process.stdin });\n\
                   rl.on('line', (line) => console.log(`Hi ${line}!`));\n";
    let greet = run_with_stdin(
        &runner,
        request("javascript", &[("main.js", program)], Limits::default()),
        "Ada\nBob\n",
    );
    assert_eq!(
        greet.stdout, "Hi Ada!\nHi Bob!\n",
        "stderr: {}",
        greet.stderr
    );
}

#[test]
fn csharp_top_level_statements_hello_and_stdin() {
    let (_dir, runner) = runner();
    let program = "using System;\n\nConsole.Write(\"Name? \");\nvar name = Console.ReadLine();\nConsole.WriteLine($\"Hi {name}!\");\n";
    let greet = run_with_stdin(
        &runner,
        request("csharp", &[("Program.cs", program)], Limits::default()),
        "Ada\n",
    );
    assert_eq!(greet.stdout, "Name? Hi Ada!\n", "stderr: {}", greet.stderr);
    assert!(greet.outcome.success, "{:?}", greet.outcome);
    assert!(
        greet.events.iter().any(|e| matches!(
            e,
            coderoom_runner::RunEvent::Started {
                phase: Phase::Compile,
                ..
            }
        )),
        "no compile phase"
    );
}

#[test]
fn csharp_classic_program_with_two_files() {
    let (_dir, runner) = runner();
    let main = "using System;\nclass Program {\n  static void Main() { Console.WriteLine(Greeter.Hello(\"C#\")); }\n}\n";
    let greeter = "static class Greeter {\n  public static string Hello(string who) => \"hello from \" + who;\n}\n";
    let result = run(
        &runner,
        request(
            "csharp",
            &[("Program.cs", main), ("Greeter.cs", greeter)],
            Limits::default(),
        ),
    );
    assert_eq!(
        result.stdout, "hello from C#\n",
        "stderr: {}",
        result.stderr
    );
}

#[test]
fn csharp_compile_error_has_file_line_and_column() {
    let (_dir, runner) = runner();
    let program = "using System;\n\nConsole.WriteLine(\"ok\");\nint x = \"text\";\n";
    let result = run(
        &runner,
        request("csharp", &[("Program.cs", program)], Limits::default()),
    );
    assert_eq!(result.outcome.phase, Phase::Compile);
    assert!(!result.outcome.success);
    let diagnostic = result.outcome.diagnostics.first().expect("a diagnostic");
    assert_eq!(
        (diagnostic.file.as_str(), diagnostic.line),
        ("Program.cs", 4),
        "{diagnostic:?}"
    );
    assert!(diagnostic.column > 0);
    assert_eq!(diagnostic.code, "CS0029");
    assert!(result
        .outcome
        .summary(&Limits::default())
        .starts_with("did not compile: 1 error"));
}

#[test]
fn csharp_newer_feature_names_the_runtime_that_has_it() {
    let (_dir, runner) = runner();
    let program = "using System;\n\nrecord Point(int X, int Y);\n\nclass Program { static void Main() { Console.WriteLine(new Point(1, 2)); } }\n";
    let result = run(
        &runner,
        request("csharp", &[("Program.cs", program)], Limits::default()),
    );
    assert!(!result.outcome.success);
    assert!(
        result
            .notices
            .iter()
            .any(|n| n.contains("record") && n.contains(".NET")),
        "notices: {:?}",
        result.notices
    );
}

#[test]
fn uncaught_exceptions_come_with_their_traceback() {
    let (_dir, runner) = runner();
    let python = run(
        &runner,
        request(
            "python",
            &[(
                "main.py",
                "def divide(a, b):\n    return a / b\n\nprint(divide(1, 0))\n",
            )],
            Limits::default(),
        ),
    );
    assert_eq!(python.outcome.termination, Termination::Exited { code: 1 });
    assert!(python.stderr.contains("Traceback"), "{}", python.stderr);
    assert!(
        python.stderr.contains("main.py\", line 2, in divide"),
        "{}",
        python.stderr
    );
    assert!(
        python.stderr.contains("ZeroDivisionError"),
        "{}",
        python.stderr
    );

    let node = run(
        &runner,
        request(
            "javascript",
            &[(
                "main.js",
                "function boom() {\n  throw new Error('boom');\n}\nboom();\n",
            )],
            Limits::default(),
        ),
    );
    assert_eq!(node.outcome.termination, Termination::Exited { code: 1 });
    assert!(node.stderr.contains("Error: boom"), "{}", node.stderr);
    assert!(node.stderr.contains("main.js:2"), "{}", node.stderr);

    let csharp = run(
        &runner,
        request(
            "csharp",
            &[(
                "Program.cs",
                "using System;\n\nint[] numbers = new int[2];\nConsole.WriteLine(numbers[5]);\n",
            )],
            Limits::default(),
        ),
    );
    assert!(!csharp.outcome.success);
    assert!(
        csharp.stderr.contains("IndexOutOfRangeException"),
        "{}",
        csharp.stderr
    );
    assert!(csharp.stderr.contains("Program.cs:4"), "{}", csharp.stderr);
}

#[test]
fn output_streams_as_it_comes() {
    let (_dir, runner) = runner();
    let program = "import time\nprint('first')\ntime.sleep(0.4)\nprint('second')\n";
    let result = run(
        &runner,
        request("python", &[("main.py", program)], Limits::default()),
    );
    let arrival = |word: &str| {
        result
            .events
            .iter()
            .find_map(|e| match e {
                coderoom_runner::RunEvent::Output { at_ms, text, .. } if text.contains(word) => {
                    Some(*at_ms)
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("{word:?} never arrived: {:?}", result.events))
    };
    let (first, second) = (arrival("first"), arrival("second"));
    assert!(second - first >= 300, "chunks at {first} and {second} ms");
}

#[test]
fn rlimits_only_fallback_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = coderoom_runner::Runner::with_isolation(
        dir.path().join("runs"),
        Isolation::RlimitsOnly {
            reason: "user namespaces are switched off".into(),
        },
    )
    .expect("runner");
    let result = run(
        &runner,
        request(
            "python",
            &[("main.py", "print('still runs')\n")],
            Limits::default(),
        ),
    );
    assert_eq!(
        result.stdout, "still runs\n",
        "stderr: {} {:?}",
        result.stderr, result.outcome
    );
    assert!(matches!(
        result.outcome.isolation,
        Isolation::RlimitsOnly { .. }
    ));
    assert!(
        result
            .notices
            .iter()
            .any(|n| n.starts_with("not isolated: user namespaces are switched off")),
        "{:?}",
        result.notices
    );
}

#[test]
fn bad_requests_get_clear_errors() {
    let (_dir, runner) = runner();
    let error = |request| runner.start(request).err().expect("refused").to_string();
    assert!(
        error(request("cobol", &[("main.cob", "")], Limits::default()))
            .contains("unknown language")
    );
    assert!(error(request("python", &[], Limits::default())).contains("no files"));
    assert!(error(request(
        "python",
        &[("../escape.py", "")],
        Limits::default()
    ))
    .contains("inside the program's folder"));
    let mut missing_main = request("python", &[("a.py", "")], Limits::default());
    missing_main.main = Some("b.py".into());
    assert!(error(missing_main).contains("not among"));
}
