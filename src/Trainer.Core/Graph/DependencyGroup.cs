namespace Trainer.Core.Graph;

/// <summary>
/// Producers whose output channels must be pruned together (they meet at residual adds or
/// multiplications), with the layers that shrink with them.
/// </summary>
/// <param name="Id">Position of the group (0-based, in execution order of its first producer).</param>
/// <param name="Producers">Module paths of the coupled producers, in execution order.</param>
/// <param name="Followers">BatchNorm, GroupNorm and depthwise layers that carry these channels 1:1, in execution order.</param>
/// <param name="Channels">The common output channel count.</param>
/// <param name="Problems">Problems that touch a producer, follower or consumer of this group; non-empty means do not prune it.</param>
public sealed record DependencyGroup(int Id, IReadOnlyList<string> Producers, IReadOnlyList<string> Followers,
    long Channels, IReadOnlyList<GraphProblem> Problems)
{
    /// <summary>True when more than one producer is in the group.</summary>
    public bool IsCoupled => Producers.Count > 1;

    /// <summary>True when no problem touches the group, so its channels can be pruned.</summary>
    public bool IsPrunable => Problems.Count == 0;
}
