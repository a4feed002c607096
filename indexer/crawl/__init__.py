"""The network side: one guarded fetcher (address guard, robots.txt, size and time limits), one feed
parser, and the watcher that follows feeds into an index."""
