//! [`SortedSet`]: the per-source sets of `ruadb sources` and the summary (signatures, domains,
//! reporters), compact for the many sources with a handful of values and linear for the rare
//! source with hundreds of thousands.

/// A set built by inserting, read once at the end as a sorted vector.
///
/// New values go to an unsorted tail, merged into the sorted part (sort and dedup) when the
/// tail outgrows it: an insert costs O(log n) amortised, never a shift of the whole vector
/// (a record with 200,000 distinct DKIM domains would otherwise cost 10^10 moves). Repeated
/// values are found in the sorted part by binary search (and in a tail of at most
/// [`SortedSet::MIN_TAIL`] values by a scan), and the tail is merged once longer than both the
/// sorted part and `MIN_TAIL`, so a set holds at most about twice its distinct values.
#[derive(Debug, Clone)]
pub struct SortedSet<T> {
    values: Vec<T>,
    /// `values[..sorted]` is sorted without repeats.
    sorted: usize,
}

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet {
            values: Vec::new(),
            sorted: 0,
        }
    }
}

impl<T: Ord> SortedSet<T> {
    /// The tail length below which a set is never merged, so a small set is one small vector.
    pub const MIN_TAIL: usize = 8;

    /// Adds `value` (a repeat is dropped, now or at the next merge).
    pub fn insert(&mut self, value: T) {
        let (sorted, tail) = self.values.split_at(self.sorted);
        // A short tail is searched too, so that a small set (the usual case) never holds a
        // repeat and rarely needs a merge.
        let in_tail = if tail.len() <= Self::MIN_TAIL {
            tail.contains(&value)
        } else {
            tail.last() == Some(&value)
        };
        if in_tail || sorted.binary_search(&value).is_ok() {
            return;
        }
        self.values.push(value);
        if self.values.len() - self.sorted > self.sorted.max(Self::MIN_TAIL) {
            self.merge();
        }
    }

    /// The values, sorted, without repeats.
    pub fn into_sorted(mut self) -> Vec<T> {
        self.merge();
        self.values.shrink_to_fit();
        self.values
    }

    /// The values, sorted, without repeats, for a reader that goes through them once (not
    /// shrunk to fit first, as [`SortedSet::into_sorted`] does for values that are kept).
    pub fn into_sorted_iter(mut self) -> std::vec::IntoIter<T> {
        self.merge();
        self.values.into_iter()
    }

    fn merge(&mut self) {
        self.values.sort_unstable();
        self.values.dedup();
        self.sorted = self.values.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn keeps_each_value_once_in_order() {
        let mut set = SortedSet::default();
        for value in [5, 3, 5, 1, 3, 3, 9, 1, 0, 5, 7, 7, 2, 8, 6, 4, 4, 5] {
            set.insert(value);
        }
        assert_eq!(
            set.clone().into_sorted_iter().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(set.into_sorted(), (0..10).collect::<Vec<_>>());
        assert!(SortedSet::<u8>::default().into_sorted().is_empty());
    }

    #[test]
    fn repeats_do_not_grow_it() {
        let mut set = SortedSet::default();
        for round in 0..10_000u32 {
            set.insert(round % 3);
            set.insert(round % 7);
        }
        assert!(set.values.len() <= 2 * 7 + SortedSet::<u32>::MIN_TAIL);
        assert_eq!(set.into_sorted(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn hundreds_of_thousands_of_values_take_linear_time() {
        // Descending: each value is the smallest so far, the worst case for a vector kept
        // sorted on every insert (2 * 10^10 element moves).
        let started = Instant::now();
        let mut set = SortedSet::default();
        for value in (0..200_000u32).rev() {
            set.insert(value);
            set.insert(value);
        }
        let values = set.into_sorted();
        assert_eq!(values.len(), 200_000);
        assert!(values.windows(2).all(|pair| pair[0] < pair[1]));
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
}
