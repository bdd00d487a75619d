//! What init tells the runner on the report pipe, and the runner's reading of it.
//!
//! Init writes it after the program and everything it started are gone, and nothing inside can
//! reach the pipe (init is not dumpable and hidden from the program's `/proc`); it is read as
//! data all the same: size-capped, every length checked, unknown tags refused.
//!
//! Records: a 6-byte header `[tag, step, value: i32 native-endian]`, followed for `FILE_NAME`
//! and `FILE_DATA` by `value` bytes.

pub(crate) const TAG_EXITED: u8 = 2;
pub(crate) const TAG_SIGNALED: u8 = 3;
pub(crate) const TAG_SETUP_FAILED: u8 = 4;
pub(crate) const TAG_FLAGS: u8 = 5;
pub(crate) const TAG_FILE_NAME: u8 = 6;
pub(crate) const TAG_FILE_DATA: u8 = 7;

/// `TAG_FLAGS` bits: what init found when the program was over.
pub(crate) const FLAG_DISK_FULL: i32 = 1;
pub(crate) const FLAG_FILE_AT_SIZE_LIMIT: i32 = 2;
pub(crate) const FLAG_OUTPUT_FILES_CUT: i32 = 4;

/// The largest piece of a file in one `FILE_DATA` record.
pub(crate) const FILE_CHUNK: usize = 16 * 1024;

/// How the program ended, as init saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Exited(i32),
    Signaled(i32),
    /// A sandbox step failed before the program started.
    SetupFailed {
        step: u8,
        errno: i32,
    },
}

/// Everything init reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct InitReports {
    pub report: Option<Report>,
    pub disk_full: bool,
    pub file_at_size_limit: bool,
    /// Files the compiler left in `/out`, by name.
    pub files: Vec<(String, Vec<u8>)>,
    pub files_cut: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReportError {
    #[error("the sandbox's report is damaged ({0})")]
    Malformed(&'static str),
}

/// A file name as init may send it: one plain component.
fn plain_name(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let plain = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\0', '\\']);
    plain.then(|| name.to_owned())
}

/// Reads what init wrote. `max_file_bytes` caps the files together.
pub(crate) fn parse(bytes: &[u8], max_file_bytes: usize) -> Result<InitReports, ReportError> {
    let mut reports = InitReports::default();
    let mut rest = bytes;
    let mut file_bytes = 0usize;
    while !rest.is_empty() {
        if rest.len() < 6 {
            return Err(ReportError::Malformed("a record is cut short"));
        }
        let (tag, step) = (rest[0], rest[1]);
        let value = i32::from_ne_bytes([rest[2], rest[3], rest[4], rest[5]]);
        rest = &rest[6..];
        match tag {
            TAG_EXITED => reports.report = Some(Report::Exited(value)),
            TAG_SIGNALED => reports.report = Some(Report::Signaled(value)),
            TAG_SETUP_FAILED => reports.report = Some(Report::SetupFailed { step, errno: value }),
            TAG_FLAGS => {
                reports.disk_full |= value & FLAG_DISK_FULL != 0;
                reports.file_at_size_limit |= value & FLAG_FILE_AT_SIZE_LIMIT != 0;
                reports.files_cut |= value & FLAG_OUTPUT_FILES_CUT != 0;
            }
            TAG_FILE_NAME | TAG_FILE_DATA => {
                let length = usize::try_from(value)
                    .map_err(|_| ReportError::Malformed("a negative length"))?;
                if length > rest.len() {
                    return Err(ReportError::Malformed("a length past the end"));
                }
                let (payload, tail) = rest.split_at(length);
                rest = tail;
                if tag == TAG_FILE_NAME {
                    let name = plain_name(payload)
                        .ok_or(ReportError::Malformed("a file name that is not plain"))?;
                    if reports.files.iter().any(|(existing, _)| *existing == name) {
                        return Err(ReportError::Malformed("a file named twice"));
                    }
                    reports.files.push((name, Vec::new()));
                } else {
                    if length > FILE_CHUNK {
                        return Err(ReportError::Malformed("a file piece over its size"));
                    }
                    file_bytes += length;
                    if file_bytes > max_file_bytes {
                        return Err(ReportError::Malformed("more file bytes than allowed"));
                    }
                    let (_, data) = reports
                        .files
                        .last_mut()
                        .ok_or(ReportError::Malformed("file data before its name"))?;
                    data.extend_from_slice(payload);
                }
            }
            _ => return Err(ReportError::Malformed("an unknown record")),
        }
    }
    Ok(reports)
}

/// One record's header, for init and the tests.
pub(crate) fn header(tag: u8, step: u8, value: i32) -> [u8; 6] {
    let value = value.to_ne_bytes();
    [tag, step, value[0], value[1], value[2], value[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tag: u8, value: i32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = header(tag, 0, value).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn a_whole_report_is_read() {
        let mut bytes = record(TAG_EXITED, 3, b"");
        bytes.extend(record(TAG_FLAGS, FLAG_DISK_FULL, b""));
        bytes.extend(record(TAG_FILE_NAME, 8, b"main.exe"));
        bytes.extend(record(TAG_FILE_DATA, 2, b"MZ"));
        bytes.extend(record(TAG_FILE_DATA, 1, b"!"));
        let reports = parse(&bytes, 1024).expect("parse");
        assert_eq!(reports.report, Some(Report::Exited(3)));
        assert!(reports.disk_full && !reports.file_at_size_limit);
        assert_eq!(reports.files, vec![("main.exe".into(), b"MZ!".to_vec())]);
    }

    #[test]
    fn damaged_or_hostile_reports_are_refused() {
        let cases: Vec<Vec<u8>> = vec![
            vec![TAG_EXITED, 0, 1],
            record(99, 0, b""),
            record(TAG_FILE_NAME, -1, b""),
            record(TAG_FILE_NAME, 100, b"short"),
            record(TAG_FILE_NAME, 5, b"../up"),
            record(TAG_FILE_NAME, 2, b".."),
            record(TAG_FILE_NAME, 0, b""),
            record(TAG_FILE_DATA, 1, b"x"),
            [
                record(TAG_FILE_NAME, 1, b"a"),
                record(TAG_FILE_NAME, 1, b"a"),
            ]
            .concat(),
            [
                record(TAG_FILE_NAME, 1, b"a"),
                record(TAG_FILE_DATA, 4, b"abcd"),
            ]
            .concat(),
        ];
        for bytes in cases {
            assert!(parse(&bytes, 3).is_err(), "{bytes:?} was accepted");
        }
    }
}
