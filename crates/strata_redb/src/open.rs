//! Opening, reopening and closing a save: its format, identity and upgrades.

use super::*;
use crate::contain::contain;

impl RedbStore {
    /// Opens the save at `path`, creating it if missing.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, RedbStoreOptions::default())
    }

    /// Opens the save at `path` with options, creating it if missing.
    ///
    /// Creation is atomic: a new save is initialised in `<path>.creating`, made durable, then
    /// renamed into place, so a crash during creation never leaves a half-written save behind.
    pub fn open_with(path: impl AsRef<Path>, options: RedbStoreOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if options.read_only {
            return Self::open_read_only(path, &options);
        }
        if !path.exists() {
            let mut tmp = path.clone().into_os_string();
            tmp.push(".creating");
            let tmp = PathBuf::from(tmp);
            if tmp.exists() {
                std::fs::remove_file(&tmp)?;
            }
            drop(Self::open_file(&tmp, &options)?);
            std::fs::rename(&tmp, &path)?;
            sync_parent_dir(&path)?;
        }
        Self::open_file(&path, &options)
    }

    pub(crate) fn open_read_only(path: PathBuf, options: &RedbStoreOptions) -> Result<Self, StoreError> {
        let (db, world) = contain(&path, "opening the save", || {
            let db = match Database::builder().set_cache_size(options.cache_bytes).open_read_only(&path) {
                // It needs the recovery after a crash, which writes.
                Err(redb::DatabaseError::RepairAborted) => return Err(StoreError::ReadOnly),
                other => other.map_err(unreadable)?,
            };
            match stored_format(&db)? {
                (Some(SAVE_FORMAT_VERSION), true) => {}
                (Some(found), _) if found > SAVE_FORMAT_VERSION => {
                    return Err(StoreError::UnsupportedFormat { found, supported: SAVE_FORMAT_VERSION });
                }
                _ => return Err(StoreError::ReadOnly),
            }
            let world = read_world(&db)?;
            Ok((db, world))
        })?;
        Ok(Self::new(Db::ReadOnly(db), path, world, Default::default(), Default::default(), options.cache_bytes))
    }

    pub(crate) fn new(
        db: Db,
        path: PathBuf,
        world: WorldId,
        syncs: Arc<AtomicU64>,
        reads: Arc<AtomicU64>,
        cache_bytes: usize,
    ) -> Self {
        Self {
            db: std::sync::RwLock::new(Some(Arc::new(db))),
            reopen: None,
            needs_reopen: AtomicBool::new(false),
            cache_bytes,
            reopens: AtomicU64::new(0),
            path,
            world,
            syncs,
            reads,
            poisoned: AtomicBool::new(false),
            suspect: AtomicBool::new(false),
        }
    }

    pub(crate) fn open_file(path: &Path, options: &RedbStoreOptions) -> Result<Self, StoreError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let backend = FileBackend::new(file).db()?;
        let mut store = Self::open_backend(backend, path, options.clone())?;
        let at = path.to_path_buf();
        store.reopen = Some(Box::new(move || {
            let file = OpenOptions::new().read(true).write(true).open(&at)?;
            let backend = FileBackend::new(file).map_err(|e| io::Error::other(e.to_string()))?;
            Ok(Box::new(backend) as Box<dyn StorageBackend>)
        }));
        Ok(store)
    }

    /// [`RedbStore::open_backend`] with a way to make the backend again: after an I/O error
    /// the database is reopened on a backend `make` gives (as a file is reopened).
    pub fn open_reopenable_backend<B: StorageBackend>(
        make: impl Fn() -> io::Result<B> + Send + Sync + 'static,
        label: impl AsRef<Path>,
        options: RedbStoreOptions,
    ) -> Result<Self, StoreError> {
        let mut store = Self::open_backend(make()?, label, options)?;
        store.reopen = Some(Box::new(move || Ok(Box::new(make()?) as Box<dyn StorageBackend>)));
        Ok(store)
    }

    /// How many times the database was reopened after an I/O error.
    pub fn reopens(&self) -> u64 {
        self.reopens.load(Ordering::Relaxed)
    }

    /// Reopens the database on a new backend after an I/O error latched it: the old one is
    /// dropped without writing (its state after the error is not trusted) and the new one
    /// recovers the file as after a crash, so it holds exactly the commits that were
    /// acknowledged, or those plus the one whose acknowledgment failed.
    pub(crate) fn reopen_now(&self) -> Result<(), StoreError> {
        let Some(make) = &self.reopen else { return Ok(()) };
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if !self.needs_reopen.load(Ordering::Acquire) {
            return Ok(()); // another call reopened it meanwhile
        }
        match slot.take().map(Arc::try_unwrap) {
            Some(Ok(Db::Writable(db))) => close_without_writing(db),
            Some(Ok(other)) => drop(other),
            // A call still uses the old database: reopen on a later call.
            Some(Err(busy)) => {
                *slot = Some(busy);
                return Err(StoreError::Io(io::Error::other("the database is busy; reopening it later")));
            }
            // Dropped by an earlier reopen that failed (the disk was still full).
            None => {}
        }
        let backend = CountingBackend { inner: make()?, syncs: self.syncs.clone(), reads: self.reads.clone() };
        let opened = contain(&self.path, "reopening the save", || {
            let db = Database::builder()
                .set_cache_size(self.cache_bytes)
                .create_with_backend(backend)
                .map_err(unreadable)?;
            let world = read_world(&db)?;
            if world != self.world {
                return Err(StoreError::Damaged {
                    path: PathBuf::new(),
                    detail: format!("reopened, the save belongs to world {world}, not {}", self.world),
                });
            }
            Ok(db)
        })?;
        *slot = Some(Arc::new(Db::Writable(opened)));
        self.needs_reopen.store(false, Ordering::Release);
        self.reopens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Opens (or initialises) a save on any redb storage backend — an in-memory one, or one
    /// that simulates failures in tests. `label` names it in messages (the path of a file).
    pub fn open_backend(
        backend: impl StorageBackend,
        label: impl AsRef<Path>,
        options: RedbStoreOptions,
    ) -> Result<Self, StoreError> {
        let path = label.as_ref().to_path_buf();
        let syncs = Arc::new(AtomicU64::new(0));
        let reads = Arc::new(AtomicU64::new(0));
        let backend = CountingBackend { inner: Box::new(backend), syncs: syncs.clone(), reads: reads.clone() };
        let (db, world) = contain(&path, "opening the save", || {
            let db = Database::builder()
                .set_cache_size(options.cache_bytes)
                .set_check_integrity_on_open(options.check_integrity)
                .create_with_backend(backend)
                .map_err(unreadable)?;
            let world = check_format(&db, &options)?;
            Ok((db, world))
        })?;
        Ok(Self::new(Db::Writable(db), path, world, syncs, reads, options.cache_bytes))
    }

    /// Closes the save. A clean close lets redb record its allocator state, so the next open
    /// reads a few pages only; it is what dropping the store does, reporting instead of
    /// ignoring what goes wrong.
    ///
    /// A store that met damage closes without writing to the file: after a panic inside redb
    /// the database is leaked (nothing of it is trusted, not even its destructor); after a
    /// damaged record or structure was read it is dropped in a way redb does not write in (its
    /// close would commit, walking structures that may be damaged). The next open then
    /// recovers the file as after a crash.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.close_now()
    }

    pub(crate) fn close_now(&mut self) -> Result<(), StoreError> {
        let slot = self.db.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        // `&mut self`: no call holds the database now.
        let db = match slot.map(Arc::try_unwrap) {
            None => return Ok(()),
            Some(Err(shared)) => {
                drop(shared);
                return Ok(());
            }
            // Nothing to write.
            Some(Ok(Db::ReadOnly(db))) => {
                drop(db);
                return Ok(());
            }
            Some(Ok(Db::Writable(db))) => db,
        };
        if *self.needs_reopen.get_mut() {
            // After an I/O error: nothing it would write is trusted.
            close_without_writing(db);
            return Ok(());
        }
        if *self.poisoned.get_mut() {
            std::mem::forget(db);
            return Ok(());
        }
        if *self.suspect.get_mut() {
            close_without_writing(db);
            return Ok(());
        }
        let result = contain(&self.path, "closing the save", || db.close().db());
        if matches!(&result, Err(StoreError::Damaged { .. })) {
            *self.poisoned.get_mut() = true;
        }
        result
    }

    /// The database, reopened first if an I/O error latched it.
    pub(crate) fn database(&self) -> Result<Arc<Db>, StoreError> {
        if self.needs_reopen.load(Ordering::Acquire) {
            self.reopen_now()?;
        }
        let slot = self.db.read().unwrap_or_else(|e| e.into_inner());
        // `None` only after a reopen failed, which left `needs_reopen` set (the next call
        // tries again).
        slot.clone().ok_or_else(|| StoreError::Io(io::Error::other("the database could not be reopened yet")))
    }
}

/// Panic payload of [`close_without_writing`]'s unwind (never reaches a panic hook).
pub(crate) struct ClosingWithoutWriting;

/// Drops `db` without its close writing anything: redb writes nothing at close while the thread
/// unwinds, so it is dropped during an unwind started (without the panic hook) and caught here.
/// The next open recovers the file as after a crash.
pub(crate) fn close_without_writing(db: Database) {
    let _ = catch_unwind(AssertUnwindSafe(move || {
        let _db = db;
        resume_unwind(Box::new(ClosingWithoutWriting));
    }));
}

/// A failed open: a file that is not readable as a database (its header damaged, or not a
/// save at all) is [`StoreError::Damaged`] (salvage may still find records in it).
pub(crate) fn unreadable(e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) if io.kind() == io::ErrorKind::InvalidData => {
            StoreError::Damaged { path: PathBuf::new(), detail: format!("not readable as a save: {io}") }
        }
        other => store_error(other.into()),
    }
}

/// Brings the save in `db` to [`SAVE_FORMAT_VERSION`] and returns its world id.
///
/// A save of this format needs no write: a write transaction's commit costs a durable sync that
/// grows with the file (about 0.5 s for a 500 MB save). A new, partial or older save is
/// completed in one durable write transaction (a crash leaves it as it was): missing tables
/// created, a format-1 save's summaries made (see [`add_summaries`]), text values framed as
/// meta records, and an identity chosen with the digest of what the save holds.
pub(crate) fn check_format(db: &Database, options: &RedbStoreOptions) -> Result<WorldId, StoreError> {
    match stored_format(db)? {
        (Some(SAVE_FORMAT_VERSION), true) => return read_world(db),
        (Some(found), _) if !(FORMAT_WITHOUT_SUMMARIES..=SAVE_FORMAT_VERSION).contains(&found) => {
            return Err(StoreError::UnsupportedFormat { found, supported: SAVE_FORMAT_VERSION });
        }
        _ => {}
    }
    let txn = db.begin_write().db()?;
    {
        let mut meta = txn.open_table(META).db()?;
        let found = meta.get("format").db()?.map(|g| g.value());
        txn.open_table(CHUNKS).db()?;
        txn.open_table(SUMMARIES).db()?;
        txn.open_table(DELETED).db()?;
        txn.open_table(META_RECORDS).db()?;
        if found == Some(FORMAT_WITHOUT_SUMMARIES) {
            add_summaries(&txn)?;
        }
        let mut identity_table = txn.open_table(IDENTITY).db()?;
        let existing = Identity::read(&identity_table).map_err(identity_damage)?;
        if existing.is_none() {
            let world = options.new_world_id.filter(|w| *w != WorldId::UNSEALED).unwrap_or_else(WorldId::random);
            let mut identity = Identity::new(world);
            move_meta_text(&txn, world)?;
            for item in txn.open_table(CHUNKS).db()?.iter().db()? {
                let (k, v) = item.db()?;
                identity.add_chunk(MortonKey(k.value()), v.value());
            }
            for item in txn.open_table(META_RECORDS).db()?.iter().db()? {
                let (k, v) = item.db()?;
                identity.add_meta(k.value(), v.value());
            }
            identity.write(&mut identity_table).db()?;
        }
        meta.insert("format", SAVE_FORMAT_VERSION).db()?;
    }
    txn.commit().db()?;
    read_world(db)
}

pub(crate) fn identity_damage(e: IdentityError) -> StoreError {
    match e {
        // The path is filled in by `contain`.
        IdentityError::Damaged => {
            StoreError::Damaged { path: PathBuf::new(), detail: "the identity table fails its check value".into() }
        }
        IdentityError::Redb(e) => store_error(e),
    }
}

/// Moves the text values of a format-1 or -2 save (table `meta_text`) into `meta_records`,
/// framed for `world`, and deletes the old table.
pub(crate) fn move_meta_text(txn: &redb::WriteTransaction, world: WorldId) -> Result<(), StoreError> {
    let values: Vec<(String, String)> = {
        let table = txn.open_table(META_TEXT).db()?;
        table
            .iter()
            .db()?
            .map(|item| item.db().map(|(k, v)| (k.value().to_owned(), v.value().to_owned())))
            .collect::<Result<_, _>>()?
    };
    let mut records = txn.open_table(META_RECORDS).db()?;
    let mut out = Vec::new();
    for (name, value) in values {
        out.clear();
        meta_record::encode(&name, &value, world, 0, &mut out);
        records.insert(name.as_str(), out.as_slice()).db()?;
    }
    txn.delete_table(META_TEXT).db()?;
    Ok(())
}

/// The format version in the `meta` table (`None`: a new save) and whether every table of the
/// current format exists.
pub(crate) fn stored_format(db: &impl ReadableDatabase) -> Result<(Option<u32>, bool), StoreError> {
    let txn = db.begin_read().db()?;
    let format = match txn.open_table(META) {
        Ok(meta) => meta.get("format").db()?.map(|g| g.value()),
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, false)),
        Err(e) => return Err(store_error(e.into())),
    };
    let exists = |r: Result<(), redb::TableError>| match r {
        Ok(()) => Ok(true),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
        Err(e) => Err(store_error(e.into())),
    };
    let complete = exists(txn.open_table(CHUNKS).map(drop))?
        && exists(txn.open_table(SUMMARIES).map(drop))?
        && exists(txn.open_table(DELETED).map(drop))?
        && exists(txn.open_table(IDENTITY).map(drop))?
        && exists(txn.open_table(META_RECORDS).map(drop))?;
    Ok((format, complete))
}

pub(crate) fn read_world(db: &impl ReadableDatabase) -> Result<WorldId, StoreError> {
    let txn = db.begin_read().db()?;
    let table = txn.open_table(IDENTITY).db()?;
    match Identity::read(&table).map_err(identity_damage)? {
        Some(identity) => Ok(identity.world),
        None => Err(StoreError::Damaged { path: PathBuf::new(), detail: "the identity table has no world id".into() }),
    }
}

/// Upgrades a format-1 save inside `txn`: summarises every chunk record into the `summaries`
/// table (a record that does not decode gets the "no summary" record).
///
/// # Runtime
/// One decode and summary per stored chunk.
pub(crate) fn add_summaries(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let chunks = txn.open_table(CHUNKS).db()?;
    let mut summaries = txn.open_table(SUMMARIES).db()?;
    let mut out = Vec::new();
    for item in chunks.iter().db()? {
        let (k, v) = item.db()?;
        let key = MortonKey(k.value());
        out.clear();
        match StoredSummary::of_record(v.value(), strata_core::store::STORE_UP) {
            Ok(s) => s.encode(key, &mut out),
            Err(_) => summary_record::encode_unsummarised(key, &mut out),
        }
        summaries.insert(key.0, out.as_slice()).db()?;
    }
    Ok(())
}

/// Makes a rename in `path`'s directory durable.
pub(crate) fn sync_parent_dir(path: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
