"""Deliveries: the log of every email the notifier owes, and the loop that sends them."""
