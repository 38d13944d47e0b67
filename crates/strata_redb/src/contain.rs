//! Containment of redb's panics on damaged files (see the crate docs, "Damaged files").

use super::*;

impl RedbStore {
    /// Runs `f` (calls into redb), containing a panic inside it: it becomes
    /// [`StoreError::Damaged`] and poisons the store (every later call fails the same way).
    pub(crate) fn contain<T>(&self, what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Damaged {
                path: self.path.clone(),
                detail: format!("{what} refused: an earlier call into the database panicked"),
            });
        }
        let result = contain(&self.path, what, f);
        match &result {
            Err(StoreError::Damaged { detail, .. }) if detail.starts_with(PANIC_PREFIX) => {
                self.poisoned.store(true, Ordering::Release);
            }
            Err(StoreError::Damaged { .. } | StoreError::Corrupt { .. }) => self.suspect.store(true, Ordering::Release),
            Err(StoreError::Io(_)) if self.reopen.is_some() => self.needs_reopen.store(true, Ordering::Release),
            _ => {}
        }
        result
    }
}

/// How a contained panic's [`StoreError::Damaged`] detail starts.
pub(crate) const PANIC_PREFIX: &str = "the database panicked";

/// Runs `f` (calls into redb for the save at `path`), turning a panic inside it into
/// [`StoreError::Damaged`]; a redb corruption error gets the path too.
pub(crate) fn contain<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Err(StoreError::Damaged { path: p, detail })) if p.as_os_str().is_empty() => {
            Err(StoreError::Damaged { path: path.to_path_buf(), detail })
        }
        Ok(result) => result,
        Err(panic) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: format!("{PANIC_PREFIX} while {what}: {}", panic_message(panic.as_ref())),
        }),
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Runs a caller's visitor inside a contained call: its panic is kept in `slot` (and the scan
/// stopped) to be resumed once the call has returned, so it is not taken for damage.
pub(crate) fn call_visitor<T>(
    slot: &mut Option<Box<dyn Any + Send>>,
    f: impl FnOnce() -> ControlFlow<T>,
) -> ControlFlow<T>
where
    T: Default,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(flow) => flow,
        Err(panic) => {
            *slot = Some(panic);
            ControlFlow::Break(T::default())
        }
    }
}

/// Resumes a visitor's panic kept by [`call_visitor`], else returns `result`.
pub(crate) fn resume_visitor<T>(slot: Option<Box<dyn Any + Send>>, result: T) -> T {
    match slot {
        Some(panic) => resume_unwind(panic),
        None => result,
    }
}
