//! Per-publisher ordering with bounded concurrency.
//!
//! Each publisher (client id) gets a lane: a queue worked by one task, so its
//! messages reach the webhook in the order the broker delivered them, while
//! different publishers proceed side by side. A semaphore bounds how many
//! lanes deliver at the same moment.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Something queued in a lane.
pub trait LaneItem: Send + 'static {
    /// The lane this item belongs to (the publisher's client id).
    fn lane(&self) -> &str;
}

/// Works one item to completion.
pub trait LaneHandler: Send + Sync + 'static {
    /// The items handled.
    type Item: LaneItem;
    /// Handles one item; the next item of the same lane waits for it.
    fn handle(&self, item: Self::Item) -> impl Future<Output = ()> + Send;
}

/// The set of lanes.
pub struct Lanes<H: LaneHandler> {
    handler: H,
    queues: Mutex<HashMap<String, VecDeque<H::Item>>>,
    permits: Semaphore,
    workers: TaskTracker,
    stop: CancellationToken,
}

impl<H: LaneHandler> Lanes<H> {
    /// Lanes whose items `handler` works, at most `concurrency` at a time.
    /// After `stop` is cancelled no new item is started.
    pub fn new(handler: H, concurrency: usize, stop: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            handler,
            queues: Mutex::new(HashMap::new()),
            permits: Semaphore::new(concurrency),
            workers: TaskTracker::new(),
            stop,
        })
    }

    /// Queues `item` behind the earlier items of its lane.
    pub fn submit(self: &Arc<Self>, item: H::Item) {
        let mut queues = self.queues();
        match queues.entry(item.lane().to_owned()) {
            Entry::Occupied(mut queue) => queue.get_mut().push_back(item),
            Entry::Vacant(slot) => {
                let lane = slot.key().clone();
                slot.insert(VecDeque::from([item]));
                self.workers.spawn(Arc::clone(self).work(lane));
            }
        }
    }

    /// Waits until every lane worker has finished; call after cancelling
    /// `stop`, as workers otherwise live while their lane has items.
    pub async fn stopped(&self) {
        self.workers.close();
        self.workers.wait().await;
    }

    /// The worker of one lane: exists exactly while the lane has a queue.
    async fn work(self: Arc<Self>, lane: String) {
        while let Some(item) = self.next_item(&lane) {
            let permit = tokio::select! {
                biased;
                () = self.stop.cancelled() => return,
                permit = self.permits.acquire() => permit,
            };
            // The semaphore is never closed, so a permit always comes.
            let Ok(_permit) = permit else { return };
            if self.stop.is_cancelled() {
                return;
            }
            self.handler.handle(item).await;
        }
    }

    /// The lane's next item, or `None` after removing the emptied lane (under
    /// the same lock as `submit`, so no item is ever left without a worker).
    fn next_item(&self, lane: &str) -> Option<H::Item> {
        let mut queues = self.queues();
        let item = queues.get_mut(lane).and_then(VecDeque::pop_front);
        if item.is_none() {
            queues.remove(lane);
        }
        item
    }

    fn queues(&self) -> MutexGuard<'_, HashMap<String, VecDeque<H::Item>>> {
        // Queue operations cannot panic halfway, so a poisoned lock is intact.
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::{mpsc, Notify};

    struct Item {
        lane: &'static str,
        seq: u32,
    }

    impl LaneItem for Item {
        fn lane(&self) -> &str {
            self.lane
        }
    }

    /// Records what it handles; lane "blocked" waits until "release" ran.
    struct Recorder {
        done: mpsc::UnboundedSender<(&'static str, u32)>,
        release: Arc<Notify>,
    }

    impl LaneHandler for Recorder {
        type Item = Item;

        async fn handle(&self, item: Item) {
            if item.lane == "blocked" {
                self.release.notified().await;
            }
            if item.lane == "release" {
                self.release.notify_one();
            }
            // The receiver outlives every handler in these tests.
            let _ = self.done.send((item.lane, item.seq));
        }
    }

    fn lanes(
        concurrency: usize,
    ) -> (
        Arc<Lanes<Recorder>>,
        mpsc::UnboundedReceiver<(&'static str, u32)>,
    ) {
        let (done, received) = mpsc::unbounded_channel();
        let handler = Recorder {
            done,
            release: Arc::new(Notify::new()),
        };
        (
            Lanes::new(handler, concurrency, CancellationToken::new()),
            received,
        )
    }

    async fn take(
        received: &mut mpsc::UnboundedReceiver<(&'static str, u32)>,
        count: usize,
    ) -> Vec<(&'static str, u32)> {
        let mut out = Vec::new();
        while out.len() < count {
            match received.recv().await {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn keeps_each_lane_in_order() {
        let (lanes, mut received) = lanes(4);
        for seq in 0..50 {
            lanes.submit(Item { lane: "a", seq });
            lanes.submit(Item { lane: "b", seq });
        }
        let handled = take(&mut received, 100).await;
        for lane in ["a", "b"] {
            let order: Vec<u32> = handled
                .iter()
                .filter(|(l, _)| *l == lane)
                .map(|(_, seq)| *seq)
                .collect();
            assert_eq!(order, (0..50).collect::<Vec<_>>(), "lane {lane}");
        }
    }

    #[tokio::test]
    async fn a_stuck_lane_does_not_block_another() {
        // "blocked" finishes only after "release" ran, which needs two lanes
        // to be worked at the same time.
        let (lanes, mut received) = lanes(2);
        lanes.submit(Item {
            lane: "blocked",
            seq: 0,
        });
        lanes.submit(Item {
            lane: "release",
            seq: 0,
        });
        let handled = take(&mut received, 2).await;
        assert_eq!(handled, [("release", 0), ("blocked", 0)]);
    }

    #[tokio::test]
    async fn a_lane_is_reopened_after_it_drained() {
        let (lanes, mut received) = lanes(1);
        lanes.submit(Item { lane: "a", seq: 0 });
        assert_eq!(take(&mut received, 1).await, [("a", 0)]);
        lanes.submit(Item { lane: "a", seq: 1 });
        assert_eq!(take(&mut received, 1).await, [("a", 1)]);
    }

    #[tokio::test]
    async fn nothing_starts_after_stop() {
        let stop = CancellationToken::new();
        let (done, mut received) = mpsc::unbounded_channel();
        let handler = Recorder {
            done,
            release: Arc::new(Notify::new()),
        };
        let lanes = Lanes::new(handler, 1, stop.clone());
        stop.cancel();
        lanes.submit(Item { lane: "a", seq: 0 });
        lanes.stopped().await;
        drop(lanes);
        assert_eq!(received.recv().await, None);
    }
}
