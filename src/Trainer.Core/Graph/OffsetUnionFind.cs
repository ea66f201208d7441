namespace Trainer.Core.Graph;

/// <summary>
/// Disjoint sets over 0..n-1 where every member also has an offset from its set's representative: joining a and b
/// with shift d states "channel c of a is channel c + d of b". <see cref="Find"/> gives the representative and the
/// member's offset on the representative's axis (channel c of x is position c + offset there).
/// </summary>
internal sealed class OffsetUnionFind
{
    private readonly int[] parent;
    private readonly long[] toParent; // channel c of x is channel c + toParent[x] of parent[x]

    /// <summary>n singletons, each at offset 0.</summary>
    public OffsetUnionFind(int n)
    {
        parent = Enumerable.Range(0, n).ToArray();
        toParent = new long[n];
    }

    /// <summary>The representative of <paramref name="x"/>'s set and x's offset on its axis.</summary>
    public (int Root, long Offset) Find(int x)
    {
        long offset = 0;
        int node = x;
        while (parent[node] != node)
        {
            offset += toParent[node];
            node = parent[node];
        }
        // Compress: point x straight at the root.
        parent[x] = node;
        toParent[x] = offset;
        return (node, offset);
    }

    /// <summary>Joins a and b so that channel c of a is channel c + <paramref name="shift"/> of b.</summary>
    /// <returns>False when they are already joined with another shift (a channel would be tied to two positions).</returns>
    public bool Union(int a, int b, long shift)
    {
        var (ra, oa) = Find(a);
        var (rb, ob) = Find(b);
        if (ra == rb) return oa == ob + shift;
        // Position on rb's axis of a's channel c: c + shift + ob; of ra's channel c': c' - oa + shift + ob.
        parent[ra] = rb;
        toParent[ra] = shift + ob - oa;
        return true;
    }
}
