//! The held-out split of a real dataset: deterministic, disjoint, the same for every seed,
//! method and ftbench run. An item is held out iff the first 8 bytes of sha256(dataset name,
//! item id) are 0 mod 4 (a quarter of the items); the evaluation takes the held-out items in
//! the order of that hash, so asking for fewer never changes which items train.

use sha2::{Digest, Sha256};

/// The item's place in the split: (held out?, order key).
pub fn place(dataset: &str, id: &str) -> (bool, u64) {
    let mut h = Sha256::new();
    h.update(dataset.as_bytes());
    h.update([0u8]);
    h.update(id.as_bytes());
    let d = h.finalize();
    let key = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
    (key % 4 == 0, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_a_quarter_is_held_out_and_it_is_stable() {
        let held = (0..4000).filter(|i| place("olmo:sciq", &i.to_string()).0).count();
        assert!((850..1150).contains(&held), "{held} of 4000 held out");
        assert_eq!(place("olmo:sciq", "17"), place("olmo:sciq", "17"));
        assert_ne!(place("olmo:sciq", "17").1, place("olmo:arc_easy", "17").1);
    }
}
