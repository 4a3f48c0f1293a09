//! `beach sim`: the strategy lab on the command line. It reads a scenario, runs each variant
//! on a simulated cluster in virtual time (progress on stderr), prints the report as tables
//! (or its JSON document with `--json`), and writes the HTML page `--report` names.

use beach_transport_mem::lab::{Lab, Scenario};
use serde_json::json;

use crate::args::SimArgs;
use crate::outcome::{Failure, Output};

/// Runs the lab the arguments describe.
pub fn run(args: &SimArgs) -> Result<Output, Failure> {
    let path = args.scenario.display();
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| Failure::usage(format!("cannot read the scenario {path}: {e}")))?;
    let scenario = Scenario::parse(&text).map_err(|e| Failure::usage(format!("{path}: {e}")))?;
    let mut lab = Lab::new(scenario);
    if let Some(seed) = args.seed {
        lab = lab.seed(seed);
    }
    let total = lab.variants().len();
    let mut done = 0;
    let report = lab
        .run_with(|variant| {
            done += 1;
            eprintln!("[{done}/{total}] {variant}");
        })
        .map_err(|e| Failure::cluster(format!("{path}: {e}")))?;
    if let Some(file) = &args.report {
        std::fs::write(file, report.html()).map_err(|e| {
            Failure::usage(format!("cannot write the report to {}: {e}", file.display()))
        })?;
        eprintln!("report written to {}", file.display());
    }
    let json = serde_json::to_value(&report).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    Ok(Output { json, human: report.table() })
}
