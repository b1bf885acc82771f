//! `fractal-server`: see the crate documentation of the library part.

fn main() -> anyhow::Result<()> {
    fractal_server::cli::main()
}
