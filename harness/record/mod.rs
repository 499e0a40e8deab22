//! Run records: one JSON file per cell, schema-versioned, written atomically. This is ftbench's
//! on-disk contract (like criterion's estimates.json): fields are only ever added; a change
//! in meaning bumps `schema_version`.

mod io;
mod lock;
mod schema;

pub use io::{load_dir, read_record, record_path, write_atomic, LoadProblem};
pub use lock::{cells_running_here, lock_path, try_lock, CellLock, Lock};
pub use schema::{
    Artifact, Conditions, CurvePoint, Failure, FailureKind, GpuMemory, InferenceSpeed, Memory, ModelInfo, PairedDelta, Ran, Record,
    RecordEstimate, ServedForm, Status, StepPoint, SuiteRef, TargetReached, Timing, WeightBytes, RECORD_SCHEMA_VERSION,
};
