//! The name and colour a person is shown with, asked once and kept in the data dir.

use std::path::Path;

use crate::ClassError;

/// The colours offered (and given at random to a new profile): distinct on light and dark.
pub const COLOURS: [&str; 10] = [
    "#e11d48", "#ea580c", "#ca8a04", "#16a34a", "#0d9488", "#0284c7", "#4f46e5", "#9333ea",
    "#db2777", "#475569",
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    pub name: String,
    pub colour: String,
}

impl Profile {
    /// The profile kept in `data`, or `None` before the person has given their name.
    pub fn load(data: &coderoom_paths::DataDir) -> Result<Option<Self>, ClassError> {
        let path = file(data);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let profile: Profile = serde_json::from_slice(&bytes).map_err(|error| {
                    ClassError::File(format!(
                        "your name and colour could not be read from {} ({error}); enter them again",
                        path.display()
                    ))
                })?;
                Ok(Some(profile.checked()?))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(ClassError::File(format!(
                "your name and colour could not be read from {}: {error}",
                path.display()
            ))),
        }
    }

    /// Checks and keeps the profile (written whole, then renamed, so a crash keeps the old one).
    pub fn save(self, data: &coderoom_paths::DataDir) -> Result<Self, ClassError> {
        let profile = self.checked()?;
        let path = file(data);
        let json = serde_json::to_vec_pretty(&profile)
            .map_err(|error| ClassError::File(error.to_string()))?;
        write_replacing(&path, &json)
            .map_err(|error| ClassError::File(format!("your name could not be saved: {error}")))?;
        Ok(profile)
    }

    /// A name others can read (1 to 40 characters, no control characters) and a `#rrggbb`
    /// colour.
    pub fn checked(self) -> Result<Self, ClassError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(ClassError::Refused(
                "type your name: the class sees it beside your cursor".into(),
            ));
        }
        if name.chars().count() > 40 {
            return Err(ClassError::Refused(
                "a name is at most 40 characters".into(),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ClassError::Refused(
                "a name cannot hold control characters".into(),
            ));
        }
        let colour = self.colour.trim().to_lowercase();
        let well_made = colour.len() == 7
            && colour.starts_with('#')
            && colour[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !well_made {
            return Err(ClassError::Refused(format!(
                "{:?} is not a colour like #3b82f6",
                self.colour
            )));
        }
        Ok(Self { name, colour })
    }

    /// A colour from [`COLOURS`], at random.
    pub fn any_colour() -> String {
        COLOURS[rand::random_range(0..COLOURS.len())].to_owned()
    }
}

fn file(data: &coderoom_paths::DataDir) -> std::path::PathBuf {
    data.root().join("profile.json")
}

fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_loads_and_bad_ones_are_explained() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = coderoom_paths::DataDir::at(dir.path()).expect("data dir");
        assert_eq!(Profile::load(&data).expect("load"), None);
        let saved = Profile {
            name: "  Ada ".into(),
            colour: "#E11D48".into(),
        }
        .save(&data)
        .expect("save");
        assert_eq!(
            saved,
            Profile {
                name: "Ada".into(),
                colour: "#e11d48".into()
            }
        );
        assert_eq!(Profile::load(&data).expect("load"), Some(saved));
        for (name, colour) in [("", "#e11d48"), ("a\u{7}b", "#e11d48"), ("Ada", "red")] {
            let refused = Profile {
                name: name.into(),
                colour: colour.into(),
            }
            .save(&data);
            assert!(
                matches!(refused, Err(ClassError::Refused(_))),
                "{name:?} {colour:?}"
            );
        }
        std::fs::write(dir.path().join("profile.json"), b"{ not json").expect("write");
        let error = Profile::load(&data).expect_err("damaged");
        assert!(error.to_string().contains("enter them again"), "{error}");
    }
}
