using Plugins.ChannelPruning;
using Plugins.LowRank;
using Trainer.Abstractions.Compression;

namespace Benchmarks.FashionCompression;

/// <summary>One row of the comparison: a compressor and the settings it runs with.</summary>
internal sealed record CompressionMethod(string Name, Func<ICompressor> Create, IReadOnlyDictionary<string, string> Settings);

/// <summary>The compressors the benchmark can compare, by name; a new method is one more entry.</summary>
internal static class MethodCatalog
{
    private static readonly Dictionary<string, CompressionMethod> Methods = new(StringComparer.OrdinalIgnoreCase)
    {
        ["lasso"] = new("lasso", () => new ChannelPruningCompressor(), new Dictionary<string, string>
        {
            ["method"] = "lasso",
            ["trainset_ratio"] = "0.05",
            ["sampled_pixels_per_img"] = "10",
        }),
        ["l1"] = new("l1", () => new ChannelPruningCompressor(), new Dictionary<string, string> { ["method"] = "l1" }),
        // Low-rank decomposition of the convs to the model's MACs target (truncated SVD; the nonlinear fit reproduces
        // sampled post-ReLU responses).
        ["low-rank"] = new("low-rank", () => new LowRankCompressor(), new Dictionary<string, string> { ["target_of"] = "model" }),
        ["low-rank-nl"] = new("low-rank-nl", () => new LowRankCompressor(), new Dictionary<string, string>
        {
            ["nonlinear_case"] = "true",
            ["target_of"] = "model",
            ["trainset_ratio"] = "0.05",
            ["sampled_pixels_per_img"] = "10",
        }),
    };

    /// <summary>The method named <paramref name="name"/>.</summary>
    public static CompressionMethod Get(string name) => Methods[name];

    /// <summary>Returns <paramref name="names"/> when every one is known; throws listing the known ones otherwise.</summary>
    public static IReadOnlyList<string> Check(IReadOnlyList<string> names)
    {
        var unknown = names.Where(n => !Methods.ContainsKey(n)).ToList();
        if (names.Count == 0 || unknown.Count > 0)
            throw new ArgumentException($"--methods: unknown method(s) {string.Join(", ", unknown)}; known: {string.Join(", ", Methods.Keys)}.");
        return names;
    }
}
