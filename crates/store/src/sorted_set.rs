//! [`SortedSet`]: the per-source sets of `ruadb sources` and the summary (signatures, domains,
//! reporters), compact for the many sources with a handful of values and linear for the rare
//! source with hundreds of thousands.

use smallvec::SmallVec;

/// A set built by inserting, read once at the end as a sorted vector.
///
/// New values go to an unsorted tail, merged into the sorted part (sort and dedup) when the
/// tail outgrows it: an insert costs O(log n) amortised, never a shift of the whole vector
/// (a record with 200,000 distinct DKIM domains would otherwise cost 10^10 moves). Repeated
/// values are found in the sorted part by binary search (and in a tail of at most
/// [`SortedSet::MIN_TAIL`] values by a scan), and the tail is merged once longer than both the
/// sorted part and `MIN_TAIL`, so a set holds at most about twice its distinct values.
///
/// Up to `INLINE` values are held in the set itself, without an allocation: a summary of a
/// mail service provider's week holds a million sources with five sets each, most of one
/// or two values. With the default 0 the set is a plain vector (the sets kept per source at
/// ingest are counted against a memory budget and stay as small as one).
#[derive(Debug, Clone)]
pub struct SortedSet<T, const INLINE: usize = 0> {
    values: SmallVec<[T; INLINE]>,
    /// `values[..sorted]` is sorted without repeats.
    sorted: usize,
}

impl<T, const INLINE: usize> Default for SortedSet<T, INLINE> {
    fn default() -> Self {
        SortedSet {
            values: SmallVec::new(),
            sorted: 0,
        }
    }
}

impl<T: Ord, const INLINE: usize> SortedSet<T, INLINE> {
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
        let mut values = self.values.into_vec();
        values.shrink_to_fit();
        values
    }

    /// The values, sorted, without repeats, for a reader that goes through them once (not
    /// copied into a vector of their own, as [`SortedSet::into_sorted`] does for values that
    /// are kept).
    pub fn into_sorted_iter(mut self) -> impl ExactSizeIterator<Item = T> {
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

    fn keeps_each_value_once_in_order<const INLINE: usize>() {
        let mut set = SortedSet::<_, INLINE>::default();
        for value in [5, 3, 5, 1, 3, 3, 9, 1, 0, 5, 7, 7, 2, 8, 6, 4, 4, 5] {
            set.insert(value);
        }
        assert_eq!(
            set.clone().into_sorted_iter().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        assert_eq!(set.into_sorted(), (0..10).collect::<Vec<_>>());
        assert!(SortedSet::<u8, INLINE>::default().into_sorted().is_empty());
        // Fewer values than fit inline, and exactly as many.
        for count in [1, INLINE, INLINE + 1] {
            let mut set = SortedSet::<u32, INLINE>::default();
            for value in (0..count as u32).rev().chain(0..count as u32) {
                set.insert(value);
            }
            let expected: Vec<u32> = (0..count as u32).collect();
            assert_eq!(set.clone().into_sorted_iter().collect::<Vec<_>>(), expected);
            assert_eq!(set.into_sorted(), expected);
        }
    }

    #[test]
    fn keeps_each_value_once_in_order_inline_or_not() {
        keeps_each_value_once_in_order::<0>();
        keeps_each_value_once_in_order::<1>();
        keeps_each_value_once_in_order::<2>();
        keeps_each_value_once_in_order::<9>();
    }

    fn repeats_do_not_grow_it<const INLINE: usize>() {
        let mut set = SortedSet::<_, INLINE>::default();
        for round in 0..10_000u32 {
            set.insert(round % 3);
            set.insert(round % 7);
        }
        assert!(set.values.len() <= 2 * 7 + SortedSet::<u32>::MIN_TAIL);
        assert_eq!(set.into_sorted(), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn repeats_do_not_grow_it_inline_or_not() {
        repeats_do_not_grow_it::<0>();
        repeats_do_not_grow_it::<2>();
    }

    /// A value that counts the comparisons made of it ([`COMPARISONS`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Counted(u32);

    thread_local! {
        static COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    impl Ord for Counted {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            COMPARISONS.with(|count| count.set(count.get() + 1));
            self.0.cmp(&other.0)
        }
    }

    impl PartialOrd for Counted {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }

    #[test]
    fn hundreds_of_thousands_of_values_take_n_log_n_comparisons() {
        // Descending: each value is the smallest so far, the worst case for a vector kept
        // sorted on every insert (2 * 10^10 element moves), and each inserted twice, the
        // worst case for a scan of the unsorted tail (as many comparisons).
        const VALUES: u32 = 200_000;
        let mut set = SortedSet::<_>::default();
        COMPARISONS.with(|count| count.set(0));
        for value in (0..VALUES).rev() {
            set.insert(Counted(value));
            set.insert(Counted(value));
            // Never more than about twice the distinct values.
            assert!(
                set.values.len() <= 2 * (VALUES - value) as usize + 1 + SortedSet::<u32>::MIN_TAIL
            );
        }
        let values = set.into_sorted();
        let comparisons = COMPARISONS.with(std::cell::Cell::get);
        assert_eq!(values.len(), VALUES as usize);
        assert!(values.windows(2).all(|pair| pair[0].0 < pair[1].0));
        // About 13 million (n log2 n is 3.5 million, and each merge sorts again what the
        // merges before it sorted); a quadratic set makes 10^10.
        assert!(
            comparisons < 200 * u64::from(VALUES),
            "{comparisons} comparisons"
        );
    }
}
