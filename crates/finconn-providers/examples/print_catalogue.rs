fn main() {
    print!("{}", finconn_providers::catalogue_markdown());
}
