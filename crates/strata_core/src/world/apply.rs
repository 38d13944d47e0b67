//! Applying the delta log: the edit kernels (runs of writes, grouped batches, boxes, spheres,
//! process batches), held-back edits and the change feed.

use super::*;
use crate::LocalIndex;

/// What one [`World::apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Log entries applied.
    pub edits: usize,
    /// Voxel writes performed.
    pub voxels: u64,
    /// Chunks changed (each listed once).
    pub chunks: usize,
    /// The world version after the apply.
    pub version: u64,
    /// [`Edit::Process`] batches dropped because a voxel they write changed since their
    /// snapshot (see [`ProcessBatch`]).
    pub rejected_batches: usize,
    /// Edits dropped because they exceed the limits of [`Edit::check`] (e.g. a box wider than
    /// [`MAX_EDIT_EXTENT`](crate::MAX_EDIT_EXTENT)) — only possible through an [`EditSender`].
    pub rejected_edits: usize,
    /// Edits held back for the next apply: their chunk could not be loaded, or is not resident
    /// yet ([`EditLoading::Deferred`]), or they come after such an edit and may write the same
    /// chunks (see [`World::apply`]).
    pub held_edits: usize,
    /// Chunks the held edits wait for ([`EditLoading::Deferred`]): listed by
    /// [`World::awaited_chunks`].
    pub awaited_chunks: usize,
}

/// Reusable buffers for grouping a batch of voxel writes by chunk (no allocation per apply in
/// steady state).
#[derive(Default)]
pub(super) struct GroupScratch {
    keys: Vec<ChunkKey>,
    slot_of_key: FxHashMap<ChunkKey, u32>,
    slot_of_edit: Vec<u32>,
    starts: Vec<u32>,
    grouped: Vec<(u16, u16)>,
    /// The batch (address, length) `keys` and `slot_of_edit` were assigned for, if the next
    /// [`World::write_grouped`] may reuse them: set by the residency check of
    /// [`EditLoading::Deferred`] right before the batch is written, taken by that write.
    slots_of: Option<(usize, usize)>,
}

impl GroupScratch {
    fn id(edits: &[(VoxelPos, MaterialId)]) -> (usize, usize) {
        (edits.as_ptr() as usize, edits.len())
    }

    /// Assigns each write a chunk slot: `keys` = the distinct chunks in order of first write,
    /// `slot_of_edit[i]` = the slot of write i. O(n), a small-table lookup per run of writes in
    /// one chunk.
    fn assign_slots(&mut self, edits: &[(VoxelPos, MaterialId)]) {
        self.slots_of = None;
        self.keys.clear();
        self.slot_of_key.clear();
        self.slot_of_edit.clear();
        self.slot_of_edit.reserve(edits.len());
        let mut last: Option<(ChunkKey, u32)> = None;
        for (p, _) in edits {
            let key = p.chunk();
            let slot = match last {
                Some((k, s)) if k == key => s,
                _ => {
                    let next = self.keys.len() as u32;
                    let s = *self.slot_of_key.entry(key).or_insert(next);
                    if s == next {
                        self.keys.push(key);
                    }
                    last = Some((key, s));
                    s
                }
            };
            self.slot_of_edit.push(slot);
        }
    }
}

/// Batches shorter than this are applied directly, run by run.
const GROUP_THRESHOLD: usize = 256;

impl World {
    /// Applies every pending edit in log order, grouped by chunk: each chunk is looked up (and
    /// loaded, if not resident) once per run of edits that fall in it, then written in place.
    /// Changed chunks are collapsed to uniform when possible, marked dirty, given the new
    /// version and published on the change feed.
    ///
    /// If a chunk cannot be loaded (a store error: a corrupt record, an unreachable server),
    /// the edit that needs it and every later edit that may write one of the same chunks
    /// ([`Edit::chunk_bounds`] overlaps) are held back, in order, and retried first by the next
    /// apply; every other edit is applied and published. Returns the first load error when
    /// anything was held (see [`ApplyReport::held_edits`] through `prepare_commit`, which
    /// commits what was applied). Nothing is lost, and edits to one chunk never reorder.
    ///
    /// With [`EditLoading::Deferred`] it loads nothing: edits that need a chunk that is not
    /// resident are held back the same way (never an error) and the chunk is listed by
    /// [`World::awaited_chunks`].
    ///
    /// # Runtime
    /// O(voxels written + chunks touched × 32³) (the collapse check), plus the loads
    /// ([`EditLoading::Blocking`]) or one cache lookup per run of writes in one chunk
    /// ([`EditLoading::Deferred`]).
    pub fn apply(&mut self) -> Result<ApplyReport, StoreError> {
        let (report, error) = self.apply_all(self.edit_loading);
        error.map_or(Ok(report), Err)
    }

    /// Whether `edit` needs a chunk that is not resident (a chunk it writes, except those a
    /// fill replaces whole); adds each such chunk to `awaited`.
    ///
    /// # Runtime
    /// O(chunks touched) for fills, O(writes) for lists (one cache lookup per run of writes
    /// in one chunk).
    fn await_missing(&mut self, edit: &Edit, awaited: &mut FxHashSet<ChunkKey>) -> bool {
        if let Edit::Many(list) = edit
            && list.len() >= GROUP_THRESHOLD
        {
            // The grouping `write_grouped` needs anyway gives the distinct chunks: one cache
            // lookup per chunk, and the write reuses it.
            self.scratch.assign_slots(list);
            let mut missing = false;
            for key in &self.scratch.keys {
                if !self.cache.contains(key) {
                    missing = true;
                    awaited.insert(*key);
                }
            }
            if !missing {
                self.scratch.slots_of = Some(GroupScratch::id(list));
            }
            return missing;
        }
        let mut missing = false;
        let mut last = None;
        let mut need = |key: ChunkKey| {
            if last != Some(key) {
                last = Some(key);
                if !self.cache.contains(&key) {
                    missing = true;
                    awaited.insert(key);
                }
            }
        };
        match edit {
            Edit::Set(p, _) => need(p.chunk()),
            Edit::Many(list) => list.iter().for_each(|(p, _)| need(p.chunk())),
            Edit::Process(batch) => batch.writes.iter().for_each(|w| need(w.pos.chunk())),
            Edit::BlockData { pos, .. } => need(pos.chunk()),
            Edit::EntityData { chunk, .. } => need(*chunk),
            Edit::FillBox { min, max, .. } => {
                cover::box_chunks(*min, *max).filter(|(_, c)| *c == Cover::Part).for_each(|(k, _)| need(k));
            }
            Edit::FillSphere { center, radius, .. } => {
                if let Some(sphere) = Sphere::new(*center, *radius) {
                    sphere.chunks().filter(|(_, c)| *c == Cover::Part).for_each(|(k, _)| need(k));
                }
            }
        }
        missing
    }

    /// [`World::apply`]'s work: applies every edit that can be, and holds back (in order, at
    /// the front of the queue for the next apply) each edit whose chunk could not be loaded and
    /// every later edit that may write one of the same chunks — so one unreadable chunk stops
    /// only the edits that touch it. Returns the report and the first load error.
    pub(super) fn apply_all(&mut self, loading: EditLoading) -> (ApplyReport, Option<StoreError>) {
        self.epoch += 1;
        // Extents of writes an earlier apply noted and then failed to make.
        self.extents.clear();
        let mut report = ApplyReport::default();
        self.deferred.extend(self.log.drain());
        let mut held = VecDeque::new();
        let mut blocked = HeldChunks::default();
        let mut error = None;
        let mut awaited = std::mem::take(&mut self.cache.awaited);
        awaited.clear();
        while let Some(edit) = self.deferred.pop_front() {
            if edit.check().is_err() {
                // Out of limits (sent through an EditSender): never applied.
                report.rejected_edits += 1;
                continue;
            }
            let bounds = edit.chunk_bounds();
            // Behind a held edit that may write the same chunks: keep their order.
            let behind = blocked.blocks(&edit, bounds);
            // Deferred: its missing chunks are awaited (even behind another, so that every
            // load starts now), and it writes nothing before they are resident.
            let waits = loading == EditLoading::Deferred && self.await_missing(&edit, &mut awaited);
            if behind || waits {
                // Not written now: a grouping made by the check is not reused.
                self.scratch.slots_of = None;
                blocked.add(&edit, bounds);
                held.push_back(edit);
                continue;
            }
            let outcome = match &edit {
                Edit::Process(batch) => self.apply_process(batch).map(|applied| {
                    report.rejected_batches += usize::from(applied.is_none());
                    applied.unwrap_or(0)
                }),
                Edit::BlockData { .. } | Edit::EntityData { .. } => match self.apply_side(&edit) {
                    Ok(true) => Ok(0),
                    Ok(false) => {
                        // The chunk's game data would outgrow its record: never applied.
                        report.rejected_edits += 1;
                        continue;
                    }
                    Err(e) => Err(e),
                },
                other => self.apply_edit(other),
            };
            match outcome {
                Ok(n) => {
                    report.edits += 1;
                    report.voxels += n;
                }
                Err(e) => {
                    blocked.add(&edit, bounds);
                    held.push_back(edit);
                    error.get_or_insert(e);
                }
            }
        }
        report.held_edits = held.len();
        report.awaited_chunks = awaited.len();
        self.cache.awaited = awaited;
        self.deferred = held;
        report.chunks = self.touched.len();
        if !self.touched.is_empty() || !self.side_touched.is_empty() {
            self.version += 1;
        }
        self.publish_touched();
        report.version = self.version;
        self.cache.evict_over_budget();
        (report, error)
    }

    fn publish_touched(&mut self) {
        let version = self.version;
        for key in std::mem::take(&mut self.touched) {
            self.side_touched.remove(&key);
            let Some(e) = self.cache.entry_mut(&key) else { continue };
            if let Some(c) = Arc::get_mut(&mut e.chunk) {
                c.normalize();
            } else {
                Arc::make_mut(&mut e.chunk).normalize();
            }
            // Block data goes with its block: dropped where the voxel changed material.
            if e.side.blocks().any(|(i, d)| e.chunk.get(i) != d.material) {
                Arc::make_mut(&mut e.side).prune(&e.chunk);
            }
            e.version = version;
            let extent = self.extents.remove(&key).unwrap_or(ChangeExtent::WHOLE);
            let change = ChunkChange { key, version, chunk: e.chunk.clone(), history: e.history, extent };
            self.subscribers.retain(|s| s.send(change.clone()).is_ok());
            self.cache.set_dirty(&key, true);
            self.cache.recount(&key);
        }
        // Chunks whose game data alone changed: dirty, with a new version (so a commit prepared
        // before keeps them dirty), but no change on the feed — their voxels did not change.
        for key in std::mem::take(&mut self.side_touched) {
            let Some(e) = self.cache.entry_mut(&key) else { continue };
            e.version = version;
            self.cache.set_dirty(&key, true);
            self.cache.recount(&key);
            self.note_side_change(key);
        }
    }

    /// Applies an [`Edit::BlockData`] or [`Edit::EntityData`]: loads the chunk and changes its
    /// game data (copy on write). Block data is written for the voxel's material as of this
    /// edit. Returns `false`, changing nothing, if the chunk's side section would outgrow
    /// [`MAX_SIDE_LEN`](crate::side::MAX_SIDE_LEN).
    ///
    /// # Runtime
    /// O(log entries), plus a copy of the chunk's game data when it is shared with the store's
    /// copy (the first change after a load or commit).
    fn apply_side(&mut self, edit: &Edit) -> Result<bool, StoreError> {
        let key = match edit {
            Edit::BlockData { pos, .. } => pos.chunk(),
            Edit::EntityData { chunk, .. } => *chunk,
            _ => return Ok(true),
        };
        self.ensure_resident(key)?;
        let e = self.cache.get(key).ok_or_else(|| unreachable_resident(key))?;
        let fits = |side: &ChunkSide| side.encoded_len() <= crate::side::MAX_SIDE_LEN;
        match edit {
            Edit::BlockData { pos, data } => {
                let i = pos.local().index();
                let material = e.chunk.get(i);
                let old = e.side.block(i).cloned();
                let new = data.as_ref().map(|d| crate::side::BlockData { material, bytes: d.clone().into() });
                if old == new {
                    return Ok(true);
                }
                let side = Arc::make_mut(&mut e.side);
                side.set_block(i, material, new.map(|d| d.bytes));
                if !fits(side) {
                    side.set_block(i, material, None);
                    if let Some(o) = old {
                        side.set_block(i, o.material, Some(o.bytes));
                    }
                    return Ok(false);
                }
            }
            Edit::EntityData { id, data, .. } => {
                if e.side.entity(*id) == data.as_deref() {
                    return Ok(true);
                }
                let old = e.side.entity(*id).map(Box::<[u8]>::from);
                let side = Arc::make_mut(&mut e.side);
                side.set_entity(*id, data.clone().map(Into::into));
                if !fits(side) {
                    side.set_entity(*id, old);
                    return Ok(false);
                }
            }
            _ => {}
        }
        self.side_touched.insert(key);
        Ok(true)
    }

    fn apply_edit(&mut self, edit: &Edit) -> Result<u64, StoreError> {
        match edit {
            Edit::Set(pos, m) => self.write_run(&[(*pos, *m)]),
            Edit::Many(list) if list.len() >= GROUP_THRESHOLD => self.write_grouped(list),
            Edit::Many(list) => self.write_run(list),
            Edit::FillBox { min, max, material } => self.fill_box_now(*min, *max, *material),
            Edit::FillSphere { center, radius, material } => self.fill_sphere_now(*center, *radius, *material),
            Edit::Process(batch) => Ok(self.apply_process(batch)?.unwrap_or(0)),
            Edit::BlockData { .. } | Edit::EntityData { .. } => self.apply_side(edit).map(|_| 0),
        }
    }

    /// Applies a process batch all or nothing (see [`ProcessBatch`]): loads every chunk it
    /// writes, checks every `expect`, then writes and stamps the chunks. Returns the voxels
    /// written, or `None` if the batch was rejected. A load error leaves nothing written (the
    /// batch is retried by the next apply).
    ///
    /// # Runtime
    /// O(writes + chunks written): two passes over the writes, runs of one chunk looked up once.
    fn apply_process(&mut self, batch: &ProcessBatch) -> Result<Option<u64>, StoreError> {
        let writes = &batch.writes;
        let mut i = 0;
        while i < writes.len() {
            let key = writes[i].pos.chunk();
            self.ensure_resident(key)?;
            let chunk = &self.cache.peek(&key).ok_or_else(|| unreachable_resident(key))?.chunk;
            while i < writes.len() && writes[i].pos.chunk() == key {
                if chunk.get(writes[i].pos.local().index()) != writes[i].expect {
                    self.rejected_process_batches += 1;
                    return Ok(None);
                }
                i += 1;
            }
        }
        let mut i = 0;
        while i < writes.len() {
            let key = writes[i].pos.chunk();
            let chunk = self.chunk_for_edit(key)?;
            let from = i;
            while i < writes.len() && writes[i].pos.chunk() == key {
                chunk.set(writes[i].pos.local().index(), writes[i].material);
                i += 1;
            }
            self.note_extent(key, ChangeExtent::of(writes[from..i].iter().map(|w| w.pos.local()), true));
            if let Some(e) = self.cache.entry_mut(&key) {
                e.history.record(batch.stamp);
            }
        }
        self.process_batches += 1;
        self.process_voxels += writes.len() as u64;
        Ok(Some(writes.len() as u64))
    }

    /// Looks up (loading if needed) and marks as touched; returns the chunk to edit.
    fn chunk_for_edit(&mut self, key: ChunkKey) -> Result<&mut Chunk, StoreError> {
        self.ensure_resident(key)?;
        let epoch = self.epoch;
        let e = self.cache.get(key).ok_or_else(|| unreachable_resident(key))?;
        if e.touched_epoch != epoch {
            e.touched_epoch = epoch;
            self.touched.push(key);
        }
        Ok(Arc::make_mut(&mut e.chunk))
    }

    fn write_run(&mut self, edits: &[(VoxelPos, MaterialId)]) -> Result<u64, StoreError> {
        let mut i = 0;
        while i < edits.len() {
            let key = edits[i].0.chunk();
            let chunk = self.chunk_for_edit(key)?;
            let mut j = i;
            while j < edits.len() && edits[j].0.chunk() == key {
                chunk.set(edits[j].0.local().index(), edits[j].1);
                j += 1;
            }
            self.note_extent(key, ChangeExtent::of(edits[i..j].iter().map(|(p, _)| p.local()), false));
            i = j;
        }
        Ok(edits.len() as u64)
    }

    /// Applies a large batch grouped by chunk: one pass assigns each write a chunk slot, a stable
    /// counting sort groups (local index, material) pairs by slot, then each chunk is looked up
    /// once and written with a tight loop. Stability keeps log order within a chunk, so later
    /// writes to the same voxel still win.
    ///
    /// # Runtime
    /// O(n + chunks): about one small-table lookup per write, none of them in the cache map.
    fn write_grouped(&mut self, edits: &[(VoxelPos, MaterialId)]) -> Result<u64, StoreError> {
        let mut sc = std::mem::take(&mut self.scratch);
        if sc.slots_of.take() != Some(GroupScratch::id(edits)) {
            sc.assign_slots(edits);
        }
        sc.starts.clear();
        sc.starts.resize(sc.keys.len() + 1, 0);
        for &s in &sc.slot_of_edit {
            sc.starts[s as usize + 1] += 1;
        }
        for i in 1..sc.starts.len() {
            sc.starts[i] += sc.starts[i - 1];
        }
        sc.grouped.clear();
        sc.grouped.resize(edits.len(), (0, 0));
        {
            // `starts[s]` doubles as the write cursor of slot s; afterwards `starts[s]` is the end
            // of slot s, i.e. the start of slot s + 1.
            let (starts, grouped) = (&mut sc.starts, &mut sc.grouped);
            for ((p, m), &s) in edits.iter().zip(&sc.slot_of_edit) {
                let c = &mut starts[s as usize];
                grouped[*c as usize] = (p.local().index().get() as u16, m.0);
                *c += 1;
            }
        }
        let mut result = Ok(edits.len() as u64);
        let mut begin = 0usize;
        for (slot, key) in sc.keys.iter().enumerate() {
            let end = sc.starts[slot] as usize;
            let writes = &sc.grouped[begin..end];
            begin = end;
            let chunk = match self.chunk_for_edit(*key) {
                Ok(c) => c,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let extent = ChangeExtent::of(writes.iter().map(|&(i, _)| LocalIndex::new(i).pos()), false);
            if let Chunk::Uniform(m) = *chunk
                && writes.iter().all(|&(_, v)| v == m.0)
            {
                continue;
            }
            let voxels = chunk.make_dense().as_mut_slice();
            for &(i, v) in writes {
                // Invariant: `i` came from `LocalIndex::get`, which is < CHUNK_VOLUME.
                voxels[i as usize & (crate::CHUNK_VOLUME - 1)] = v;
            }
            self.note_extent(*key, extent);
        }
        self.scratch = sc;
        result
    }

    /// Replaces a whole chunk without loading it.
    fn replace_chunk(&mut self, key: ChunkKey, chunk: Chunk) {
        let epoch = self.epoch;
        let e = self.cache.insert(key, Arc::new(chunk), true, self.version);
        e.touched_epoch = epoch;
        self.touched.push(key);
        self.note_extent(key, Some(ChangeExtent::WHOLE));
    }

    /// Adds `extent` to what this apply wrote in `key`.
    fn note_extent(&mut self, key: ChunkKey, extent: Option<ChangeExtent>) {
        let Some(extent) = extent else { return };
        self.extents.entry(key).and_modify(|e| *e = e.union(extent)).or_insert(extent);
    }

    fn fill_box_now(&mut self, min: VoxelPos, max: VoxelPos, m: MaterialId) -> Result<u64, StoreError> {
        let mut written = 0u64;
        for (key, cover) in cover::box_chunks(min, max) {
            if cover == Cover::Whole {
                self.replace_chunk(key, Chunk::Uniform(m));
                written += crate::CHUNK_VOLUME as u64;
                continue;
            }
            let (lo, hi) = (key.min_voxel(), key.max_voxel());
            let l = VoxelPos::new(min.x.max(lo.x), min.y.max(lo.y), min.z.max(lo.z));
            let h = VoxelPos::new(max.x.min(hi.x), max.y.min(hi.y), max.z.min(hi.z));
            let (lmin, lmax) = (l.local(), h.local());
            self.note_extent(key, Some(ChangeExtent::new(lmin, lmax, false)));
            let chunk = self.chunk_for_edit(key)?;
            for z in lmin.z..=lmax.z {
                for y in lmin.y..=lmax.y {
                    for x in lmin.x..=lmax.x {
                        chunk.set(LocalPos::new(x, y, z).index(), m);
                    }
                }
            }
            written += (lmax.x - lmin.x + 1) as u64 * (lmax.y - lmin.y + 1) as u64 * (lmax.z - lmin.z + 1) as u64;
        }
        Ok(written)
    }

    fn fill_sphere_now(&mut self, center: VoxelPos, radius: f32, m: MaterialId) -> Result<u64, StoreError> {
        let Some(sphere) = Sphere::new(center, radius) else { return Ok(0) };
        let mut written = 0u64;
        for (key, cover) in sphere.chunks() {
            if cover == Cover::Whole {
                self.replace_chunk(key, Chunk::Uniform(m));
                written += crate::CHUNK_VOLUME as u64;
                continue;
            }
            let lo = key.min_voxel().to_array().map(i64::from);
            // The sphere's box within the chunk holds every write.
            let reach = f64::from(radius).ceil() as i64 + 1;
            let c = center.to_array().map(i64::from);
            let local = |a: usize, d: i64| (c[a] + d - lo[a]).clamp(0, CHUNK_SIZE as i64 - 1) as u8;
            let (bmin, bmax) = (
                LocalPos::new(local(0, -reach), local(1, -reach), local(2, -reach)),
                LocalPos::new(local(0, reach), local(1, reach), local(2, reach)),
            );
            self.note_extent(key, Some(ChangeExtent::new(bmin, bmax, false)));
            let chunk = self.chunk_for_edit(key)?;
            for z in 0..CHUNK_SIZE as i64 {
                for y in 0..CHUNK_SIZE as i64 {
                    for x in 0..CHUNK_SIZE as i64 {
                        if sphere.contains([lo[0] + x, lo[1] + y, lo[2] + z]) {
                            chunk.set(LocalPos::new(x as u8, y as u8, z as u8).index(), m);
                            written += 1;
                        }
                    }
                }
            }
        }
        Ok(written)
    }
}

/// The chunks that held edits may write: a later edit that may write one of them is held
/// behind them, so edits to one chunk never reorder. Edits that write listed voxels (`Set`,
/// `Many`, `Process`) count the chunks they write exactly — one held far-flung list no longer
/// blocks everything inside its bounding box — and fills count their box of chunks.
///
/// # Runtime
/// Checking an edit: O(its writes) set lookups plus O(held fills) box tests; a fill also
/// O(chunks held by lists). So an apply is linear in held list edits (it once compared every
/// edit with every held one).
#[derive(Default)]
struct HeldChunks {
    chunks: FxHashSet<ChunkKey>,
    boxes: Vec<ChunkBox>,
}

impl HeldChunks {
    /// The chunks `edit` writes, if it writes listed voxels.
    fn listed(edit: &Edit) -> Option<Box<dyn Iterator<Item = ChunkKey> + '_>> {
        match edit {
            Edit::Set(p, _) => Some(Box::new(std::iter::once(p.chunk()))),
            Edit::Many(list) => Some(Box::new(list.iter().map(|(p, _)| p.chunk()))),
            Edit::Process(batch) => Some(Box::new(batch.writes.iter().map(|w| w.pos.chunk()))),
            Edit::BlockData { pos, .. } => Some(Box::new(std::iter::once(pos.chunk()))),
            Edit::EntityData { chunk, .. } => Some(Box::new(std::iter::once(*chunk))),
            Edit::FillBox { .. } | Edit::FillSphere { .. } => None,
        }
    }

    fn blocks(&self, edit: &Edit, bounds: Option<ChunkBox>) -> bool {
        let Some(bounds) = bounds else { return false };
        if self.boxes.iter().any(|b| b.overlaps(&bounds)) {
            return true;
        }
        match Self::listed(edit) {
            Some(mut keys) => !self.chunks.is_empty() && keys.any(|k| self.chunks.contains(&k)),
            None => self.chunks.iter().any(|k| bounds.contains(*k)),
        }
    }

    fn add(&mut self, edit: &Edit, bounds: Option<ChunkBox>) {
        match Self::listed(edit) {
            Some(keys) => self.chunks.extend(keys),
            None => self.boxes.extend(bounds),
        }
    }
}
