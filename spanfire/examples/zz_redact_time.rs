fn main() {
    let s = spanfire::Secrets::default();
    let url = "https://api.example.com/v1/items/42?page=2&limit=50&sort=name";
    for _ in 0..1000 { std::hint::black_box(s.redact_url(std::hint::black_box(url))); }
    let t = std::time::Instant::now();
    for _ in 0..200000 { std::hint::black_box(s.redact_url(std::hint::black_box(url))); }
    println!("redact_url clean: {:?}", t.elapsed() / 200000);
    let t = std::time::Instant::now();
    for _ in 0..200000 { std::hint::black_box(s.is_secret(std::hint::black_box("limit"))); }
    println!("is_secret(limit): {:?}", t.elapsed() / 200000);
}
