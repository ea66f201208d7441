using Trainer.Abstractions.Compression;

namespace Plugins.ChannelPruning;

/// <summary>Resolves the names a user writes in settings (a group id or any of its producers' paths) to channel
/// groups, with one error naming the setting for a name the model does not have.</summary>
internal sealed class GroupNames(IReadOnlyList<ChannelGroupInfo> groups)
{
    /// <summary>The group <paramref name="name"/> denotes; throws naming <paramref name="key"/> when there is none.</summary>
    public ChannelGroupInfo Resolve(string name, string key) =>
        groups.FirstOrDefault(g => g.Id == name)
        ?? groups.FirstOrDefault(g => g.Producers.Contains(name))
        ?? throw new ArgumentException(
            $"{key}: the model has no channel group or producer layer '{name}'; groups are " +
            $"{string.Join(", ", groups.Select(g => g.Producers.Count > 1 ? $"{g.Id} ({string.Join("+", g.Producers)})" : g.Id).Take(16))}" +
            $"{(groups.Count > 16 ? ", ..." : "")}.");

    /// <summary>Resolves a map by name to a map by group id; a prunable group must be named.</summary>
    public Dictionary<string, double> ResolveRatios(IReadOnlyDictionary<string, double> byName, string key)
    {
        var byGroup = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, ratio) in byName)
        {
            var group = Resolve(name, key);
            if (!group.IsPrunable)
                throw new ArgumentException($"{key}: '{name}' is in channel group {group.Id}, which cannot be pruned ({group.BlockedBy}); remove it.");
            byGroup[group.Id] = ratio;
        }
        return byGroup;
    }
}
