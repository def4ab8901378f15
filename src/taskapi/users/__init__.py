"""The caller's profile and account, and other users as co-members see them."""
