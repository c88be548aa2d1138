"""Git and worktrees: typed git calls, where the repository and its state dir are, and the
baseline/candidate worktrees that never modify the user's tree, index, stash or branches."""
