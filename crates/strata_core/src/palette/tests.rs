use super::*;
use crate::chunk::DenseChunk;
use crate::material::{Material, MaterialKind};
use proptest::prelude::*;

/// A registry of `names` (air first) under `ids`.
fn registry(entries: &[(u16, &str)]) -> MaterialRegistry {
    let materials = entries
        .iter()
        .map(|&(id, name)| Material {
            id,
            name: name.to_owned(),
            color: [0.5; 4],
            kind: if id == 0 { MaterialKind::Air } else { MaterialKind::Solid },
            collides: None,
            textures: None,
            light: 0,
            shape: Default::default(),
            states: Vec::new(),
            state: None,
        })
        .collect();
    MaterialRegistry::new(materials).unwrap()
}

fn palette(entries: &[(u16, &str)]) -> Palette {
    Palette::new(entries.iter().map(|&(id, n)| (id, n.to_owned()))).unwrap()
}

#[test]
fn a_save_without_a_palette_takes_the_registry_numbering() {
    let reg = registry(&[(0, "air"), (1, "stone"), (2, "dirt")]);
    let r = reconcile(None, &reg, &PaletteRules::new()).unwrap();
    assert!(r.map.is_none());
    assert_eq!(r.palette, Palette::of_registry(&reg));
}

#[test]
fn a_renumbered_registry_maps_by_name() {
    let saved = palette(&[(0, "air"), (1, "stone"), (2, "dirt"), (3, "grass")]);
    // Stone and grass swapped, dirt moved to 9, and a new material at a taken id.
    let reg = registry(&[(0, "air"), (3, "stone"), (9, "dirt"), (1, "grass"), (2, "lamp")]);
    let r = reconcile(Some(&saved), &reg, &PaletteRules::new()).unwrap();
    let map = r.map.expect("ids differ");
    for (sid, rid) in [(1, 3), (2, 9), (3, 1)] {
        assert_eq!(map.to_registry(MaterialId(sid)), MaterialId(rid));
        assert_eq!(map.to_store(MaterialId(rid)), MaterialId(sid));
    }
    // The lamp's id 2 is the save's dirt: it takes the smallest free save id.
    assert_eq!(r.palette.name(4), Some("lamp"));
    assert_eq!(map.to_store(MaterialId(2)), MaterialId(4));
    assert_eq!(map.to_registry(MaterialId(4)), MaterialId(2));
    // Reopening with the recorded palette and the same registry maps the same way.
    let again = reconcile(Some(&r.palette), &reg, &PaletteRules::new()).unwrap();
    assert_eq!(again.palette, r.palette);
}

#[test]
fn a_removed_material_is_an_error_naming_it_or_a_rule_replaces_it() {
    let saved = palette(&[(0, "air"), (1, "stone"), (7, "marble")]);
    let reg = registry(&[(0, "air"), (1, "stone")]);
    let err = reconcile(Some(&saved), &reg, &PaletteRules::new()).unwrap_err();
    assert_eq!(err, PaletteError::Removed { name: "marble".into(), id: 7 });
    assert!(err.to_string().contains("\"marble\""), "{err}");
    let rules = PaletteRules::new().replace("marble", "stone");
    let r = reconcile(Some(&saved), &reg, &rules).unwrap();
    let map = r.map.unwrap();
    assert_eq!(map.to_registry(MaterialId(7)), MaterialId(1));
    assert_eq!(map.to_store(MaterialId(1)), MaterialId(1), "stone is written back as stone");
    assert_eq!(r.palette.name(7), Some("marble"), "the save still names what it holds");
    let bad = PaletteRules::new().replace("marble", "granite");
    assert_eq!(
        reconcile(Some(&saved), &reg, &bad).unwrap_err(),
        PaletteError::UnknownReplacement { from: "marble".into(), to: "granite".into() }
    );
}

#[test]
fn stored_text_round_trips_and_garbage_is_a_typed_error() {
    let p = palette(&[(0, "air"), (1, "stone \"quoted\""), (65535, "last")]);
    assert_eq!(Palette::from_text(&p.to_text()).unwrap(), p);
    for bad in ["", "[", "[(1, \"stone\")]", "[(0, \"air\"), (0, \"x\")]", "[(0, \"air\"), (1, \"air\")]", "[(0, 1)]"] {
        assert!(matches!(Palette::from_text(bad), Err(PaletteError::Malformed(_))), "{bad:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random saves and registries sharing some names under shuffled ids, against a reference
    /// written from the rule: a saved name the registry has reads as the registry's id and
    /// writes back to the saved id; a new name gets an id the save did not use; everything
    /// else is an error naming a removed material.
    #[test]
    fn reconcile_maps_every_material_by_name(
        names in proptest::collection::btree_set("[a-e]{1,3}", 1..12),
        saved_pick in proptest::collection::vec(any::<bool>(), 12),
        reg_pick in proptest::collection::vec(any::<bool>(), 12),
        saved_ids in proptest::collection::vec(1u16..40, 12),
        reg_ids in proptest::collection::vec(1u16..40, 12),
    ) {
        let names: Vec<String> = names.into_iter().collect();
        let pick = |sel: &[bool], ids: &[u16]| {
            let mut used = std::collections::BTreeSet::new();
            let mut out = vec![(0u16, "air".to_owned())];
            for (i, n) in names.iter().enumerate() {
                if sel[i] && used.insert(ids[i]) {
                    out.push((ids[i], n.clone()));
                }
            }
            out
        };
        let saved_entries = pick(&saved_pick, &saved_ids);
        let reg_entries = pick(&reg_pick, &reg_ids);
        let saved = Palette::new(saved_entries.clone()).unwrap();
        let reg_refs: Vec<(u16, &str)> = reg_entries.iter().map(|(i, n)| (*i, n.as_str())).collect();
        let reg = registry(&reg_refs);
        let reg_id = |name: &str| reg_entries.iter().find(|(_, n)| n == name).map(|(i, _)| *i);
        let removed = saved_entries.iter().filter(|(_, n)| reg_id(n).is_none()).min_by_key(|(id, _)| *id);
        match reconcile(Some(&saved), &reg, &PaletteRules::new()) {
            Err(e) => {
                let (id, name) = removed.expect("an error only when a material was removed");
                prop_assert_eq!(e, PaletteError::Removed { name: name.clone(), id: *id });
            }
            Ok(r) => {
                prop_assert!(removed.is_none());
                let same = reg_entries.iter().all(|(rid, n)| {
                    saved_entries.iter().find(|(_, s)| s == n).is_none_or(|(sid, _)| sid == rid)
                        && (saved_entries.iter().any(|(_, s)| s == n) || !saved_entries.iter().any(|(sid, _)| sid == rid))
                });
                prop_assert_eq!(r.map.is_none(), same);
                let to_registry = |sid: u16| r.map.as_ref().map_or(sid, |m| m.to_registry(MaterialId(sid)).0);
                let to_store = |rid: u16| r.map.as_ref().map_or(rid, |m| m.to_store(MaterialId(rid)).0);
                for (sid, name) in &saved_entries {
                    prop_assert_eq!(r.palette.name(*sid), Some(name.as_str()), "saved entries keep their ids");
                    prop_assert_eq!(Some(to_registry(*sid)), reg_id(name));
                }
                for (rid, name) in &reg_entries {
                    let sid = to_store(*rid);
                    prop_assert_eq!(r.palette.name(sid), Some(name.as_str()));
                    prop_assert_eq!(to_registry(sid), *rid);
                    if !saved_entries.iter().any(|(_, s)| s == name) {
                        prop_assert!(!saved_entries.iter().any(|(s, _)| *s == sid), "a new material takes a free id");
                    }
                }
                prop_assert_eq!(r.palette.len(), saved_entries.len() + reg_entries.iter().filter(|(_, n)| !saved_entries.iter().any(|(_, s)| s == n)).count());
            }
        }
    }

    /// The run-skipping remap equals a lookup per id.
    #[test]
    fn remapping_a_chunk_looks_up_every_id(seed in any::<u64>(), runs in 1usize..200) {
        let mut table = identity_table();
        let mut state = seed | 1;
        let mut next = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        for _ in 0..16 {
            let a = (next() % 20) as usize;
            table[a] = (next() % 1000) as u16;
        }
        let mut chunk = DenseChunk::filled(MaterialId::AIR);
        let ids = chunk.as_mut_slice();
        let mut i = 0;
        while i < ids.len() {
            let len = (next() as usize % (2 * ids.len() / runs)).max(1);
            let id = (next() % 20) as u16;
            for v in ids.iter_mut().skip(i).take(len) {
                *v = id;
            }
            i += len;
        }
        let want: Vec<u16> = ids.iter().map(|&v| table[v as usize]).collect();
        remap_ids(ids, &table);
        prop_assert_eq!(ids.to_vec(), want);
    }
}
