//! Embeds every runbook in `runbooks/` into the binary, so `rb` works from any folder.
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.retain(|p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "yaml"));
    names.sort();
    let mut out = String::from(
        "/// Built-in runbooks: (file name, contents).\npub static BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for p in names {
        println!("cargo:rerun-if-changed={}", p.display());
        let file = p.file_name().unwrap().to_string_lossy();
        out += &format!(
            "    ({file:?}, include_bytes!({:?})),\n",
            p.display().to_string()
        );
    }
    out += "];\n";
    fs::write(
        Path::new(&env::var("OUT_DIR").unwrap()).join("builtin.rs"),
        out,
    )
    .unwrap();
}
