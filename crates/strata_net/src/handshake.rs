//! What both ends must agree on before any chunk moves: the protocol version, the generator and
//! the material list. A client that generates unedited chunks differently from the server would
//! show a different world for every chunk nobody edited (those travel as zero bytes), so a
//! mismatch refuses the connection with an error naming what differs.

use crate::PROTOCOL_VERSION;

/// The longest generator kind name on the wire, in bytes.
pub const MAX_GENERATOR_KIND_LEN: usize = 128;
/// The longest generator settings text on the wire, in bytes.
pub const MAX_GENERATOR_SETTINGS_LEN: usize = 16 * 1024;
/// The longest material name on the wire, in bytes.
pub const MAX_MATERIAL_NAME_LEN: usize = 64;
/// The most materials a world may declare on the wire.
pub const MAX_MATERIALS: usize = 1024;

/// What makes two worlds show the same voxels where nobody edited: the generator (its kind and
/// its settings, as text: e.g. `"strata_geo::PlanetGenerator"` and the planet's RON config)
/// and the material names in id order (edited chunks store ids; the names give them meaning).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorldIdentity {
    /// The generator's type or name.
    pub generator_kind: String,
    /// The generator's settings (seed and parameters), as text both ends render the same way.
    pub generator_settings: String,
    /// Material names, index = material id.
    pub materials: Vec<String>,
}

impl WorldIdentity {
    /// Whether a peer with identity `theirs` shows the same world as ours; the first difference
    /// otherwise (generator kind, then settings, then the material count, then the first
    /// material whose name differs).
    ///
    /// # Runtime
    /// O(materials + settings length).
    pub fn check(&self, theirs: &WorldIdentity) -> Result<(), HandshakeError> {
        if self.generator_kind != theirs.generator_kind {
            return Err(HandshakeError::GeneratorKind {
                ours: self.generator_kind.clone(),
                theirs: theirs.generator_kind.clone(),
            });
        }
        if self.generator_settings != theirs.generator_settings {
            return Err(HandshakeError::GeneratorSettings {
                ours: self.generator_settings.clone(),
                theirs: theirs.generator_settings.clone(),
            });
        }
        if let Some((id, (ours, theirs))) =
            self.materials.iter().zip(&theirs.materials).enumerate().find(|(_, (a, b))| a != b)
        {
            return Err(HandshakeError::Material { id: id as u16, ours: ours.clone(), theirs: theirs.clone() });
        }
        if self.materials.len() != theirs.materials.len() {
            return Err(HandshakeError::MaterialCount { ours: self.materials.len(), theirs: theirs.materials.len() });
        }
        Ok(())
    }
}

/// Why a connection was refused at the handshake. Sent to the client in
/// [`ServerMessage::Refused`](crate::ServerMessage::Refused), so both ends see the same error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The two ends speak different protocol versions.
    #[error("protocol version {theirs} cannot talk to version {ours}")]
    Protocol {
        /// The refusing end's version.
        ours: u8,
        /// The other end's.
        theirs: u8,
    },
    /// Different generators.
    #[error("generator {theirs:?} differs from {ours:?}")]
    GeneratorKind {
        /// The refusing end's.
        ours: String,
        /// The other end's.
        theirs: String,
    },
    /// The same generator with different settings (seed or parameters).
    #[error("generator settings differ: {theirs:?} against {ours:?}")]
    GeneratorSettings {
        /// The refusing end's.
        ours: String,
        /// The other end's.
        theirs: String,
    },
    /// A different number of materials (the common ones agree).
    #[error("{theirs} materials against {ours}")]
    MaterialCount {
        /// The refusing end's.
        ours: usize,
        /// The other end's.
        theirs: usize,
    },
    /// Material `id` has another name.
    #[error("material {id} is {theirs:?} there and {ours:?} here")]
    Material {
        /// The material id.
        id: u16,
        /// The refusing end's name.
        ours: String,
        /// The other end's.
        theirs: String,
    },
    /// The server does not take this client, for a reason of its own (full, banned, …).
    #[error("refused: {0}")]
    Refused(String),
}

impl HandshakeError {
    /// The error for a peer that speaks protocol version `theirs`.
    pub fn protocol(theirs: u8) -> Self {
        Self::Protocol { ours: PROTOCOL_VERSION, theirs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> WorldIdentity {
        WorldIdentity {
            generator_kind: "strata_geo::PlanetGenerator".into(),
            generator_settings: "(seed: 7)".into(),
            materials: vec!["air".into(), "stone".into(), "grass".into()],
        }
    }

    #[test]
    fn the_first_difference_is_named() {
        let ours = identity();
        assert_eq!(ours.check(&identity()), Ok(()));
        let mut t = identity();
        t.generator_kind = "strata_core::FlatGenerator".into();
        t.generator_settings = "other".into();
        assert!(matches!(ours.check(&t), Err(HandshakeError::GeneratorKind { .. })));
        let mut t = identity();
        t.generator_settings = "(seed: 8)".into();
        assert_eq!(
            ours.check(&t),
            Err(HandshakeError::GeneratorSettings { ours: "(seed: 7)".into(), theirs: "(seed: 8)".into() })
        );
        let mut t = identity();
        t.materials[2] = "moss".into();
        t.materials.push("lava".into());
        assert_eq!(
            ours.check(&t),
            Err(HandshakeError::Material { id: 2, ours: "grass".into(), theirs: "moss".into() })
        );
        let mut t = identity();
        t.materials.push("lava".into());
        assert_eq!(ours.check(&t), Err(HandshakeError::MaterialCount { ours: 3, theirs: 4 }));
        assert_eq!(t.check(&ours), Err(HandshakeError::MaterialCount { ours: 4, theirs: 3 }));
    }
}
