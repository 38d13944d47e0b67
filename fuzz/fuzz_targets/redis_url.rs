//! The Redis store URL parser: any URL, with credentials made of any characters, parses or
//! fails with a typed error that never quotes the password (Display or Debug), and a URL that
//! parses round-trips through `to_url`.
#![no_main]
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use strata_redis::RedisClusterConfig;

fn text(u: &mut Unstructured, pool: &[&str]) -> Result<String> {
    let mut s = String::new();
    for _ in 0..u.int_in_range(0u8..=6)? {
        if u.arbitrary()? {
            s.push_str(pool[u.choose_index(pool.len())?]);
        } else {
            s.push(u.arbitrary()?);
        }
    }
    Ok(s)
}

fn run(u: &mut Unstructured) -> Result<()> {
    let scheme = *u.choose(&["redis+cluster://", "rediss://", "redis://", "", "redis+cluster:/"])?;
    // The password: a marker no other part can produce, plus any characters.
    let password = format!("Pw7q{}", text(u, &["/", "?", "@", ":", ",", "%", "%2", "&", "="])?);
    let user = text(u, &["u", ":", "%41"])?;
    let rest = text(u, &["h:1", ",", "/", "?", "world=w", "&", "region_level=", "wait_replicas=1", "x:0", "@"])?;
    let url = if u.arbitrary()? {
        format!("{scheme}{user}:{password}@{rest}")
    } else {
        format!("{scheme}:{password}@{rest}")
    };
    match RedisClusterConfig::from_url(&url) {
        Err(e) => {
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("Pw7q"), "{url:?} -> {shown}");
            }
        }
        Ok(cfg) => {
            assert!(!format!("{cfg:?}").contains("Pw7q"), "Debug of a config shows its password");
            let again = RedisClusterConfig::from_url(&cfg.to_url()).expect("to_url parses back");
            assert_eq!(format!("{again:?}"), format!("{cfg:?}"));
            assert_eq!(again.password.as_ref().map(|p| p.reveal()), cfg.password.as_ref().map(|p| p.reveal()));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
