//! The `ftbench` command line.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use ftbench::record::load_dir;
use ftbench::{model, report, runner, suite};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "ftbench",
    version,
    about = "Measure fine-tuning methods (full, LoRA, QLoRA): memory, speed, accuracy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum LaunchEngine {
    /// An sbatch script for a SLURM job array (one task per shard, SLURM_ARRAY_TASK_ID).
    Slurm {
        suite: PathBuf,
        #[arg(long)]
        shards: usize,
        /// The results root the tasks write into (shared by every node).
        #[arg(long, default_value = "results")]
        results: String,
        /// Where the tasks start (the repository root; default: the current directory).
        #[arg(long)]
        workdir: Option<String>,
        /// The ftbench binary on the nodes (default: this one).
        #[arg(long)]
        ftbench: Option<String>,
        #[arg(long)]
        partition: Option<String>,
        /// The script file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A Kubernetes Indexed Job (and the ConfigMap holding the suite).
    K8s {
        suite: PathBuf,
        #[arg(long)]
        shards: usize,
        /// A container image with ftbench and the suite's models.
        #[arg(long)]
        image: String,
        /// The PersistentVolumeClaim for results (mounted at /results).
        #[arg(long)]
        pvc: String,
        /// The pods' working directory.
        #[arg(long, default_value = "/work")]
        workdir: String,
        /// The manifest file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run every cell of a suite not yet recorded, then write its report.
    Run {
        suite: PathBuf,
        /// Records go to RESULTS/<suite name>/.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// The report goes to REPORTS/<suite name>/.
        #[arg(long, default_value = "reports")]
        reports: PathBuf,
        /// Re-run cells that already have a record.
        #[arg(long)]
        force: bool,
        /// Re-run cells whose record is not ok (oom, timeout, killed, error). Interrupted
        /// cells always run again.
        #[arg(long)]
        retry_failed: bool,
        /// Run only shard I of N (I from 0): a deterministic split of the cells balanced by
        /// estimated cost, the same in every worker (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX).
        #[arg(long)]
        shard: Option<runner::Shard>,
    },
    /// Write a job for a scheduler in which task I runs shard I of N into one results folder.
    Launch {
        #[command(subcommand)]
        engine: LaunchEngine,
    },
    /// Check suite files; print the number of cells of each.
    Validate { suites: Vec<PathBuf> },
    /// List every cell of a suite with its stable id, and whether it is recorded.
    Plan {
        suite: PathBuf,
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// List only shard I of N (as `run --shard`), with every shard's share of the cost.
        #[arg(long)]
        shard: Option<runner::Shard>,
    },
    /// Write CSV, SVG charts and one self-contained HTML report from one or more result folders
    /// (merged; a cell recorded in several keeps its newest record).
    Report {
        dirs: Vec<PathBuf>,
        /// Output folder (default: reports/<name of the first folder>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What changed between two result sets, cell by cell: step time (95% interval: within
    /// noise or not), peak memory, held-out loss.
    Compare {
        /// The baseline results folder.
        base: PathBuf,
        /// The results folder to compare with it.
        new: PathBuf,
        /// Also write the comparison as CSV.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Estimate a run's peak memory by component, where it fits, and its time and cost.
    Estimate(Box<ftbench::estimate::EstimateArgs>),
    /// Greedy continuation of a prompt (KV cache), optionally with a trained LoRA/QLoRA adapter.
    Generate(runner::GenerateRequest),
    /// Write a trained model (an adapter merged into its base, or a model as it is) as a Hugging
    /// Face directory or a GGUF file for llama.cpp / Ollama.
    Export(runner::ExportRequest),
    /// List model presets, tasks and suite knobs.
    List,
    /// Run one cell (what the runner spawns): reads the cell as JSON on stdin, writes events
    /// as JSON lines on stdout.
    #[command(hide = true)]
    Cell,
}

/// The system allocator, reporting a failed allocation as the cell's `failed` event.
#[global_allocator]
static ALLOC: ftbench::child::failure::ReportingAlloc = ftbench::child::failure::ReportingAlloc;

fn main() {
    // A closed stdout (`ftbench list | head`) ends the process quietly, as other tools do,
    // instead of a panic in println!.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// One function per command.
fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            suite,
            results,
            reports,
            force,
            retry_failed,
            shard,
        } => run_suite(suite, results, reports, force, retry_failed, shard),
        Command::Launch { engine } => launch(engine),
        Command::Validate { suites } => validate(&suites),
        Command::Plan { suite, results, shard } => plan(&suite, &results, shard),
        Command::Report { dirs, out } => report(&dirs, out),
        Command::Compare { base, new, csv } => compare(&base, &new, csv.as_deref()),
        Command::Estimate(args) => ftbench::estimate::run_estimate(&args),
        Command::Generate(req) => {
            println!("{}", runner::run_generate(&req)?);
            Ok(())
        }
        Command::Export(req) => {
            println!("{}", runner::run_export(&req)?);
            Ok(())
        }
        Command::List => list(),
        Command::Cell => cell(),
    }
}

fn run_suite(
    suite: PathBuf,
    results: PathBuf,
    reports: PathBuf,
    force: bool,
    retry_failed: bool,
    shard: Option<runner::Shard>,
) -> Result<()> {
    runner::stop_on_interrupt();
    let opts = runner::RunOptions {
        shard,
        results_root: results,
        reports_root: reports,
        force,
        retry_failed,
        exe: std::env::current_exe().context("cannot locate the ftbench binary to spawn cells")?,
        progress: std::io::stderr().is_terminal(),
    };
    let s = runner::run_suite(&suite, &opts)?;
    let mut extra = String::new();
    if s.busy > 0 {
        extra += &format!(", {} running in another runner", s.busy);
    }
    if s.other_shards > 0 {
        extra += &format!(", {} in other shards", s.other_shards);
    }
    println!(
        "{} cells run ({} ok, {} failed), {} already recorded{extra}. Records: {}  Report: {}",
        s.ran,
        s.ok,
        s.failed,
        s.skipped,
        s.results_dir.display(),
        s.report_dir.join("index.html").display()
    );
    if s.interrupted {
        eprintln!(
            "interrupted: {} cell(s) of this run not finished (the running one is recorded as interrupted); run the suite again to finish them",
            s.left
        );
        std::process::exit(130);
    }
    Ok(())
}

fn launch(engine: LaunchEngine) -> Result<()> {
    let (path, shards, out) = match &engine {
        LaunchEngine::Slurm { suite, shards, out, .. } | LaunchEngine::K8s { suite, shards, out, .. } => {
            (suite.clone(), *shards, out.clone())
        }
    };
    let (s, cells) = suite::load(&path)?;
    let plan = ftbench::launch::launch_plan(&s, &cells, shards)?;
    let text = match engine {
        LaunchEngine::Slurm {
            results,
            workdir,
            ftbench: exe,
            partition,
            ..
        } => {
            let workdir = match workdir {
                Some(w) => w,
                None => std::env::current_dir()?.display().to_string(),
            };
            let exe = match exe {
                Some(e) => e,
                None => std::env::current_exe()?.display().to_string(),
            };
            // sbatch needs the log folder to exist before the job starts.
            let logs = std::path::Path::new(&workdir).join(&results).join(&s.name).join("logs");
            std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
            let o = ftbench::launch::SlurmOptions {
                suite: path.display().to_string(),
                results,
                workdir,
                ftbench: exe,
                partition,
            };
            ftbench::launch::sbatch_script(&plan, &o)?
        }
        LaunchEngine::K8s { image, pvc, workdir, .. } => {
            let suite_text = std::fs::read_to_string(&path)?;
            ftbench::launch::k8s_manifest(
                &plan,
                &ftbench::launch::K8sOptions {
                    image,
                    pvc,
                    workdir,
                    suite_text,
                },
            )?
        }
    };
    match &out {
        Some(f) => {
            ftbench::atomic::write(f, text.as_bytes())?;
            eprintln!(
                "wrote {} ({} cells in {shards} shards, time limit {} min per task)",
                f.display(),
                plan.cells,
                plan.time_limit_min
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Every file is checked; the command fails if any is invalid.
fn validate(suites: &[PathBuf]) -> Result<()> {
    anyhow::ensure!(!suites.is_empty(), "name at least one suite file");
    let mut bad = 0;
    for path in suites {
        match suite::load(path) {
            Ok((s, cells)) => println!("{}: ok — suite `{}`, {} cells", path.display(), s.name, cells.len()),
            Err(e) => {
                eprintln!("error: {e}");
                bad += 1;
            }
        }
    }
    anyhow::ensure!(bad == 0, "{bad} of {} suite files are invalid", suites.len());
    Ok(())
}

fn plan(path: &std::path::Path, results: &std::path::Path, shard: Option<runner::Shard>) -> Result<()> {
    let (s, all) = suite::load(path)?;
    let dir = results.join(&s.name);
    let (recorded, unreadable) = if dir.exists() { load_dir(&dir)? } else { (Vec::new(), Vec::new()) };
    let cells: Vec<&suite::Cell> = match shard {
        Some(sh) => {
            let (mine, shares) = runner::shard_cells(&all, sh)?;
            let shares: Vec<String> = shares.iter().enumerate().map(|(i, x)| format!("{i}: {:.1}%", 100.0 * x)).collect();
            println!(
                "shard {sh}: {} of {} cells; estimated cost per shard: {}",
                mine.len(),
                all.len(),
                shares.join(", ")
            );
            mine
        }
        None => all.iter().collect(),
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["id", "cell", "model", "method", "hw", "seed", "steps", "batch×seq", "record"]);
    for c in cells.iter().copied() {
        let file = ftbench::record::record_path(&dir, &c.id);
        let status = match recorded.iter().find(|r| r.cell.id == c.id) {
            Some(r) => r.status.as_str().to_string(),
            None => match unreadable.iter().find(|p| p.file == file) {
                Some(p) => format!("unreadable ({}): runs again", p.message),
                None => "pending".to_string(),
            },
        };
        let k = &c.knobs;
        let accum = if k.grad_accum > 1 {
            format!(" ×{}", k.grad_accum)
        } else {
            String::new()
        };
        let steps = if c.method.trains() { k.steps.to_string() } else { "0".into() };
        t.add_row([
            c.id.clone(),
            c.label.clone(),
            c.model.clone(),
            c.method.to_string(),
            c.hardware.clone(),
            c.seed.to_string(),
            steps,
            format!("{}×{}{accum}", k.batch_size, k.seq_len),
            status,
        ]);
    }
    println!(
        "suite `{}` ({}): {} cells; records in {}",
        s.name,
        path.display(),
        cells.len(),
        dir.display()
    );
    println!("{t}");
    Ok(())
}

fn report(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<()> {
    anyhow::ensure!(!dirs.is_empty(), "name at least one results folder (e.g. results/quickstart)");
    let out = out
        .unwrap_or_else(|| PathBuf::from("reports").join(dirs[0].file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "report".into())));
    let f = report::write_report(dirs, &out)?;
    let skipped = if f.problems > 0 {
        format!(" ({} unreadable files skipped)", f.problems)
    } else {
        String::new()
    };
    println!(
        "{} records{skipped} → {}, {}, {}, {}, {} charts",
        f.records,
        f.html.display(),
        f.cells_csv.display(),
        f.groups_csv.display(),
        f.article_csv.display(),
        f.charts.len()
    );
    Ok(())
}

fn compare(base: &std::path::Path, new: &std::path::Path, csv: Option<&std::path::Path>) -> Result<()> {
    let c = report::compare(&[base.to_path_buf()], &[new.to_path_buf()])?;
    print!("{}", c.to_text());
    if let Some(path) = csv {
        c.write_csv(path)?;
        println!("CSV: {}", path.display());
    }
    Ok(())
}

/// Every registry: presets, tasks, methods, LoRA initialisations, optimizers, precisions, and
/// every knob (built-in and declared) with its default and what it trades.
fn list() -> Result<()> {
    println!("Models: `preset:NAME` (random weights, seeded), `hf:DIR` (a Hugging Face model directory), `gguf:FILE`.");
    println!("Presets:");
    for (name, what) in model::PRESETS {
        let cfg = model::preset(name).expect("listed preset");
        println!("  {name:<14} {:>8.1}M params  {what}", cfg.num_parameters() as f64 / 1e6);
    }
    println!("\nArchitectures (hf: config.json `architectures`; gguf: `general.architecture`):");
    for f in model::config::Family::ALL {
        println!("  {:<20} gguf {:<7} {}", f.architecture(), f.gguf_architecture(), f.about());
    }
    println!("\nTasks (knob `task`; also_eval takes the real ones):");
    for f in ftbench::data::FAMILIES {
        println!("  {:<14} {}", f.usage, f.about);
    }
    println!("  olmo tasks (scripts/fetch-data.sh fetches them):");
    for (name, what) in ftbench::data::olmo_tasks() {
        println!("    olmo:{name:<32} {what}");
    }
    println!("\nMethods (`methods` axis; knobs each reads beyond the training ones):");
    for m in ftbench::method::Method::all() {
        let knobs = m.knobs();
        let reads = if knobs.is_empty() {
            String::new()
        } else {
            format!(" [reads {}]", knobs.join(", "))
        };
        println!("  {:<14} {}{reads}", m.name(), m.doc());
    }
    println!("\nLoRA initialisations (knob `lora_init`):");
    for i in ftbench::method::LORA_INITS {
        println!("  {:<14} {} (PEFT init_lora_weights = {})", i.name(), i.doc(), i.peft_value());
    }
    println!("\nOptimizers (knob `optimizer`):");
    for o in ftbench::train::OPTIMIZERS {
        let own: Vec<&str> = o.knobs().iter().map(|k| k.name).collect();
        let reads = if own.is_empty() {
            String::new()
        } else {
            format!(" [reads {}]", own.join(", "))
        };
        println!("  {:<14} {}{reads}", o.name(), o.doc());
    }
    println!("\nPrecisions (knob `precision`):");
    for p in ftbench::model::PRECISIONS {
        println!("  {:<14} {}", p.name, p.doc);
    }
    println!("\nEngines (knob `engine`; whether each can run here):");
    for e in ftbench::engine::ENGINES {
        let here = match e.available() {
            Ok(v) => format!(
                "usable: {}",
                v.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
            ),
            Err(why) => format!("NOT usable: {why}"),
        };
        println!("  {:<14} {}\n  {:<14} {here}", e.name(), e.doc(), "");
    }
    println!("\nServing forms (knob `deploy`; each made from the trained model, scored and timed):");
    for f in ftbench::deploy::FORMS {
        println!("  {:<17} {}", f.name(), f.doc());
    }
    println!("\nHardware (grid axis `hardware`): cpu, cuda:N (a build with the `cuda` feature: scripts/build-cuda.sh)");
    println!("\nKnobs (in `defaults`, as grid axes, in `together` points):");
    let d = serde_json::to_value(suite::Knobs::default())?;
    for (name, ty, doc) in suite::Knobs::DOCS {
        println!("  {name:<20} {ty:<7} default {:<10} {}", d[name].to_string(), doc.trim());
    }
    for (k, owner) in suite::declared_knobs() {
        let default = k.default.value().to_string();
        println!(
            "  {:<20} {:<7} default {default:<10} ({owner}) {}",
            k.name,
            k.default.type_name(),
            k.doc
        );
    }
    Ok(())
}

/// One cell in this process (what the runner spawns): the cell as JSON on stdin, events as
/// JSON lines on stdout.
fn cell() -> Result<()> {
    use ftbench::child;
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input).context("reading the cell from stdin")?;
    let job: child::CellJob = serde_json::from_str(&input).context("the cell on stdin is not valid JSON for this ftbench")?;
    child::failure::report_failures();
    if let Err(e) = ftbench::engine::run_cell(&job, &mut std::io::stdout().lock()) {
        // The typed report for the parent (child/failure.rs), then the message for people.
        child::failure::write_line(&child::Event::Failed(ftbench::record::Failure::of_error(&e)).to_line());
        return Err(e);
    }
    Ok(())
}
