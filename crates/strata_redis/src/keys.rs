//! Key layout and Redis Cluster hash slots.
//!
//! ```text
//! strata:{<world>:<region>}:<key>     string: the chunk's codec record, as WriteBatch holds it
//! strata:{<world>:<region>}:idx       sorted set: <key> of every record of the region, score 0
//!                                     (lexicographic order = Morton order: fixed-width hex)
//! strata:{<world>}:regions            set: <region> of every region that ever held a record
//! strata:{<world>}:meta               hash: region_level (checked on open)
//! ```
//!
//! `<key>` is the Morton key as 32 lower-case hex digits; `<region>` is `key >> (3 ·
//! region_level)` (the aligned cube of 2^`region_level` chunks per side) as fixed-width hex. Redis
//! Cluster hashes only the part between the braces, so a region's records and its index live in
//! one slot (one master): a region's writes are one `MULTI`/`EXEC`, a region's range scan one
//! `ZRANGEBYLEX` + one read of its records (a bounded `MGET`) on one node. Different regions hash to different slots, spreading the
//! world over the masters.

use strata_core::MortonKey;

/// Number of hash slots in Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16-CCITT (`XModem` variant), the checksum Redis Cluster hashes keys with.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The hash slot of `key`, with Redis' hash-tag rule (the first `{…}` with a non-empty inside).
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16(tagged.unwrap_or(key)) % SLOTS
}

/// Key names of one world.
#[derive(Clone, Debug)]
pub struct Layout {
    world: String,
    region_level: u32,
    region_hex_digits: usize,
}

impl Layout {
    /// The layout of `world` sharded by regions of 2^`region_level` chunks per side.
    pub fn new(world: &str, region_level: u32) -> Self {
        // Morton keys have 3 × 27 = 81 meaningful bits.
        let bits = 81 - 3 * region_level.min(27);
        Self { world: world.into(), region_level, region_hex_digits: bits.div_ceil(4).max(1) as usize }
    }

    /// Regions are aligned cubes of 2^`region_level` chunks per side.
    pub fn region_level(&self) -> u32 {
        self.region_level
    }

    /// The region (Morton prefix) of `key`.
    pub fn region_of(&self, key: MortonKey) -> u128 {
        key.region(self.region_level)
    }

    /// The first and last key of `region`.
    pub fn region_bounds(&self, region: u128) -> (MortonKey, MortonKey) {
        let shift = 3 * self.region_level;
        let lo = region << shift;
        (MortonKey(lo), MortonKey(lo | ((1u128 << shift) - 1)))
    }

    /// `<region>` as it appears in keys and in the regions set.
    pub fn region_name(&self, region: u128) -> String {
        format!("{region:0w$x}", w = self.region_hex_digits)
    }

    /// Parses a `<region>` name.
    pub fn parse_region(&self, name: &[u8]) -> Option<u128> {
        u128::from_str_radix(std::str::from_utf8(name).ok()?, 16).ok()
    }

    fn tag(&self, region: u128) -> String {
        format!("strata:{{{}:{}}}", self.world, self.region_name(region))
    }

    /// The record key of `key`.
    pub fn record_key(&self, key: MortonKey) -> String {
        format!("{}:{}", self.tag(self.region_of(key)), member(key))
    }

    /// The index (sorted set) of `region`.
    pub fn index_key(&self, region: u128) -> String {
        format!("{}:idx", self.tag(region))
    }

    /// The summaries (hash: index member → summary record) of `region`'s chunks.
    pub fn summaries_key(&self, region: u128) -> String {
        format!("{}:sum", self.tag(region))
    }

    /// The set of every region of the world.
    pub fn regions_key(&self) -> String {
        format!("strata:{{{}}}:regions", self.world)
    }

    /// The world's metadata hash (same slot as the regions set).
    pub fn meta_key(&self) -> String {
        format!("strata:{{{}}}:meta", self.world)
    }

    /// The hash slot of `region`'s records and index.
    pub fn region_slot(&self, region: u128) -> u16 {
        key_slot(self.index_key(region).as_bytes())
    }
}

/// `<key>`: the index member of `key` (32 hex digits; lexicographic = numeric order).
pub fn member(key: MortonKey) -> String {
    format!("{:032x}", key.0)
}

/// Parses an index member.
pub fn parse_member(m: &[u8]) -> Option<MortonKey> {
    if m.len() != 32 {
        return None;
    }
    u128::from_str_radix(std::str::from_utf8(m).ok()?, 16).ok().map(MortonKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_core::ChunkKey;

    #[test]
    fn slots_match_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"{user1000}.followers"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}")); // empty tag: whole key hashed
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
    }

    #[test]
    fn region_keys_share_a_slot() {
        let l = Layout::new("w", 3);
        let a = ChunkKey::new(8, 16, -8).morton();
        let b = ChunkKey::new(15, 23, -1).morton();
        assert_eq!(l.region_of(a), l.region_of(b));
        assert_eq!(key_slot(l.record_key(a).as_bytes()), key_slot(l.record_key(b).as_bytes()));
        assert_eq!(key_slot(l.record_key(a).as_bytes()), l.region_slot(l.region_of(a)));
        // The summaries go in the same MULTI/EXEC as the records: same slot.
        assert_eq!(key_slot(l.summaries_key(l.region_of(a)).as_bytes()), l.region_slot(l.region_of(a)));
        let (lo, hi) = l.region_bounds(l.region_of(a));
        assert!(lo <= a && a <= hi && hi.0 - lo.0 == 511);
        assert_eq!(parse_member(member(a).as_bytes()), Some(a));
        assert_eq!(l.parse_region(l.region_name(l.region_of(a)).as_bytes()), Some(l.region_of(a)));
        assert_eq!(l.region_name(0).len(), 18); // 81 - 9 bits = 72 bits
    }
}
