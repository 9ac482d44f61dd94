//! The `xe` binary: a thin shell over [`xe::run`].

fn main() -> std::process::ExitCode {
    xe::run(std::env::args().skip(1).collect())
}
