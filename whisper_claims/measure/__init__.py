"""Measurements on a model: hooks, inference, explicit attention and relevance, neuron mining and
selectivity, sparse autoencoders, embeddings, listening snippets, text metrics, and the cache of
expensive intermediates."""
