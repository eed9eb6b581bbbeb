// Placeholder until the backend interface lands.
