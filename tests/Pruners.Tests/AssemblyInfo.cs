// Tests seed the global torch generator (torch.manual_seed); running them in parallel would interleave their draws.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
