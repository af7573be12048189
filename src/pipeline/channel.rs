//! "Latest wins" hand-over between threads: a channel of capacity 1 where a new item
//! replaces one nobody has taken yet. Nothing ever queues behind a slow consumer.
#![cfg_attr(not(test), warn(clippy::indexing_slicing))]

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

/// Both ends of a latest-wins slot; the producer keeps a receiver to evict stale items.
pub struct LatestSender<T> {
    tx: Sender<T>,
    evict: Receiver<T>,
}

impl<T> Clone for LatestSender<T> {
    fn clone(&self) -> Self {
        LatestSender {
            tx: self.tx.clone(),
            evict: self.evict.clone(),
        }
    }
}

pub fn latest<T>() -> (LatestSender<T>, Receiver<T>) {
    let (tx, rx) = bounded(1);
    (
        LatestSender {
            tx,
            evict: rx.clone(),
        },
        rx,
    )
}

impl<T> LatestSender<T> {
    /// Puts `item` in the slot. Returns the item that will never reach the consumer,
    /// if any: the older one it had not taken, handed back so that its buffers can be
    /// reused.
    pub fn offer(&self, item: T) -> Option<T> {
        let mut item = item;
        let mut evicted = None;
        // One producer per slot at a time, so this settles in at most two rounds;
        // the bound only guards against misuse (and then the new item is the one lost).
        for _ in 0..8 {
            match self.tx.try_send(item) {
                Ok(()) => return evicted,
                // The producer holds a receiver itself, so the slot never disconnects;
                // threads learn to stop from their stop signal instead.
                Err(TrySendError::Disconnected(_)) => return evicted,
                Err(TrySendError::Full(back)) => {
                    item = back;
                    // The consumer may take it meanwhile; then nothing was evicted.
                    if let Ok(older) = self.evict.try_recv() {
                        evicted = Some(older);
                    }
                }
            }
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_item_wins() {
        let (tx, rx) = latest();
        assert_eq!(tx.offer(1), None);
        assert_eq!(tx.offer(2), Some(1), "the untaken item is handed back");
        assert_eq!(tx.offer(3), Some(2));
        assert_eq!(rx.try_recv().ok(), Some(3));
        assert!(rx.try_recv().is_err());
        assert_eq!(tx.offer(4), None);
    }
}
