//! Which messages a run reads and how they are grouped: the rules that make fetching
//! resumable (the cursor, the UIDVALIDITY rescan, unfinished post-actions) and bounded (groups
//! of at most [`GROUP_BYTES`], oversized mail never fetched).

use crate::config::AfterIngest;
use crate::error::FetchError;
use crate::session::{GROUP_BYTES, Session};

/// Where an earlier run stopped in a mailbox: stored with the data it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The mailbox's UIDVALIDITY when the cursor was written.
    pub uidvalidity: u32,
    /// The highest UID whose message is stored.
    pub last_uid: u32,
}

/// Where this run starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The cursor's UID, or 0 when there is none or it is void: the cursor never moves back.
    pub resume_after: u32,
    /// UIDs above this are read.
    pub scan_after: u32,
    /// `(stored, now)` when the server renumbered the mailbox (UIDVALIDITY changed), so the
    /// whole mailbox is read again; messages already stored are recognised by their hash.
    pub renumbered: Option<(u32, u32)>,
}

impl Resume {
    /// The rescan policy. A cursor from another UIDVALIDITY is void. With `move` and `delete`
    /// the mailbox is a queue: whatever is still in it is unfinished (e.g. a post-action cut
    /// short by a lost connection), so it is scanned from the start; with `keep` and `seen` the
    /// scan starts after the cursor (and [`pending_uids`] adds unseen mail below it for `seen`).
    pub fn new(after_ingest: AfterIngest, cursor: Option<Cursor>, uidvalidity: u32) -> Resume {
        let (resume_after, renumbered) = match cursor {
            Some(cursor) if cursor.uidvalidity == uidvalidity => (cursor.last_uid, None),
            Some(cursor) => (0, Some((cursor.uidvalidity, uidvalidity))),
            None => (0, None),
        };
        let scan_after = match after_ingest {
            AfterIngest::Move | AfterIngest::Delete => 0,
            AfterIngest::Keep | AfterIngest::Seen => resume_after,
        };
        Resume {
            resume_after,
            scan_after,
            renumbered,
        }
    }
}

/// The UIDs this run reads, ascending after any unfinished ones: above `scan_after`, and with
/// `seen` also the unseen mail up to the cursor (stored by a run stopped between commit and
/// STORE).
pub fn pending_uids(
    session: &mut Session,
    after_ingest: AfterIngest,
    resume: &Resume,
) -> Result<Vec<u32>, FetchError> {
    let mut uids = session.uids_after(resume.scan_after)?;
    if after_ingest == AfterIngest::Seen {
        let mut unfinished = session.unseen_up_to(resume.resume_after)?;
        unfinished.append(&mut uids);
        uids = unfinished;
    }
    Ok(uids)
}

/// Consecutive UIDs of a batch that are fetched and committed together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// UIDs to fetch.
    pub fetch: Vec<u32>,
    /// UIDs (with their announced size) over the message size limit: not fetched.
    pub oversized: Vec<(u32, u64)>,
    /// The highest UID the group covers: where the cursor stands once it is committed.
    pub last_uid: u32,
}

/// Splits ascending `uids` into groups of at most [`GROUP_BYTES`] by announced size (a larger
/// message alone), setting aside messages announced over `max_message_bytes`. A UID without
/// a size was expunged meanwhile; it is asked for anyway and simply not returned. The bytes
/// actually received are bounded again by [`Session::fetch`], whatever was announced.
pub fn plan_groups(uids: &[u32], sizes: &[(u32, u32)], max_message_bytes: u64) -> Vec<Group> {
    let mut groups = Vec::new();
    let mut current = Group::default();
    let mut current_bytes = 0u64;
    for &uid in uids {
        let size = sizes
            .binary_search_by_key(&uid, |(uid, _)| *uid)
            .ok()
            .map_or(0, |index| u64::from(sizes[index].1));
        if size > max_message_bytes {
            current.oversized.push((uid, size));
        } else {
            if !current.fetch.is_empty() && current_bytes + size > GROUP_BYTES {
                groups.push(std::mem::take(&mut current));
                current_bytes = 0;
            }
            current.fetch.push(uid);
            current_bytes += size;
        }
        current.last_uid = uid;
    }
    if current.last_uid != 0 {
        groups.push(current);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1024 * 1024;

    #[test]
    fn groups_are_bounded_in_bytes_and_set_aside_oversized_mail() {
        let uids = [1, 2, 3, 4, 5, 7];
        // 6 was expunged; 4 is over a 32 MiB limit; 1..3 fill a group.
        let sizes = [
            (1, 2 * MIB),
            (2, 2 * MIB),
            (3, 2 * MIB),
            (4, 40 * MIB),
            (5, 1),
            (7, 2),
        ];
        let groups = plan_groups(&uids, &sizes, 32 * u64::from(MIB));
        assert_eq!(
            groups,
            vec![
                Group {
                    fetch: vec![1, 2],
                    oversized: vec![],
                    last_uid: 2
                },
                Group {
                    fetch: vec![3, 5, 7],
                    oversized: vec![(4, 40 * u64::from(MIB))],
                    last_uid: 7
                },
            ]
        );
    }

    #[test]
    fn a_message_larger_than_a_group_is_fetched_alone() {
        let sizes = [(10, 5 * MIB), (11, 5 * MIB), (12, 100)];
        let groups = plan_groups(&[10, 11, 12], &sizes, 64 * u64::from(MIB));
        let fetched: Vec<Vec<u32>> = groups.iter().map(|group| group.fetch.clone()).collect();
        assert_eq!(fetched, vec![vec![10], vec![11], vec![12]]);
        assert_eq!(groups.last().map(|group| group.last_uid), Some(12));
        assert!(plan_groups(&[], &sizes, 1).is_empty());
    }

    #[test]
    fn a_batch_of_only_oversized_mail_still_moves_the_cursor() {
        let groups = plan_groups(&[8, 9], &[(8, 50), (9, 60)], 10);
        assert_eq!(
            groups,
            vec![Group {
                fetch: vec![],
                oversized: vec![(8, 50), (9, 60)],
                last_uid: 9
            }]
        );
    }

    #[test]
    fn the_cursor_is_void_under_another_uidvalidity_and_queues_are_rescanned() {
        let cursor = Some(Cursor {
            uidvalidity: 7,
            last_uid: 40,
        });
        let same = Resume::new(AfterIngest::Keep, cursor, 7);
        assert_eq!((same.resume_after, same.scan_after), (40, 40));
        assert_eq!(same.renumbered, None);
        let renumbered = Resume::new(AfterIngest::Seen, cursor, 8);
        assert_eq!((renumbered.resume_after, renumbered.scan_after), (0, 0));
        assert_eq!(renumbered.renumbered, Some((7, 8)));
        for queue in [AfterIngest::Move, AfterIngest::Delete] {
            let resume = Resume::new(queue, cursor, 7);
            assert_eq!((resume.resume_after, resume.scan_after), (40, 0), "{queue}");
        }
        assert_eq!(
            Resume::new(AfterIngest::Keep, None, 7),
            Resume {
                resume_after: 0,
                scan_after: 0,
                renumbered: None
            }
        );
    }
}
