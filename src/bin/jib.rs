fn main() {
    std::process::exit(jib::cli::main());
}
