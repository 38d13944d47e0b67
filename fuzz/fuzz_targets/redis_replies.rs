//! What a Redis server (or something pretending to be one) sends back: `CLUSTER SLOTS` replies
//! and region script replies of any shape. Never a panic; a slot map that parses serves each
//! slot by one of its shards; a script reply is trusted only when it names conditional entries,
//! each once.
#![no_main]
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use strata_redis::fuzzing::{Value, parse_slot_map, script_reply};

fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => Value::Nil,
        1 => Value::Int(match u.int_in_range(0u8..=2)? {
            0 => u.int_in_range(-2i64..=16_400)?,
            1 => u.arbitrary()?,
            _ => *u.choose(&[i64::MIN, i64::MAX, 16_383, 16_384])?,
        }),
        2 => Value::BulkString(u.arbitrary::<Vec<u8>>()?),
        3 => Value::SimpleString(u.arbitrary()?),
        4 if depth < 4 => {
            let n = u.int_in_range(0usize..=6)?;
            Value::Array((0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?)
        }
        _ => Value::Okay,
    })
}

fn run(u: &mut Unstructured) -> Result<()> {
    let reply = value(u, 0)?;
    if let Some(map) = parse_slot_map(&reply, "10.0.0.1") {
        for slot in 0..16_384u16 {
            if let Some(shard) = map.shard(slot) {
                assert!(map.shards().iter().any(|s| s.master == shard.master));
            }
        }
    }
    let conditional: Vec<bool> = (0..u.int_in_range(0usize..=8)?).map(|_| u.arbitrary()).collect::<Result<_>>()?;
    let failed: Vec<Value> = (0..u.int_in_range(0usize..=8)?).map(|_| value(u, 3)).collect::<Result<_>>()?;
    if let Ok(indices) = script_reply(&conditional, &failed) {
        assert_eq!(indices.len(), failed.len());
        let mut seen = std::collections::HashSet::new();
        for (i, v) in indices.iter().zip(&failed) {
            assert!(conditional[*i] && seen.insert(*i));
            assert_eq!(v, &Value::Int(*i as i64 + 1));
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
