//! The `xe` binary: a thin shell over [`xe::run`].

// Big listings allocate and free millions of small values; mimalloc frees
// them several times faster than glibc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    xe::run_os(std::env::args_os().skip(1).collect())
}
