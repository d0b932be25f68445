"""The leaderboard database: schema and migrations, storage, imports and exports."""
