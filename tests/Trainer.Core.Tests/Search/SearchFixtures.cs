using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Search;

namespace Trainer.Core.Tests.Search;

/// <summary>The Fashion CNN's search space (groups conv1 32, conv2 64, conv3 128, fc1 256) and a synthetic objective with a
/// known best policy.</summary>
internal static class SearchFixtures
{
    public static readonly long[] FashionShape = [1, 1, 28, 28];

    public static PolicySpace FashionSpace(double target = 0.3, double floor = 0.2, int roundTo = 1)
    {
        using var model = new FashionCnn();
        return PolicySpace.Build(model, ModelGraph.Build(model, FashionShape), target, floor, roundTo);
    }

    /// <summary>Prefers keeping conv1 (nearly free in MACs) and pruning conv3: the best policy keeps all of conv1, puts
    /// conv3 at its floor and spends the rest of the budget anywhere.</summary>
    public static double Synthetic(IReadOnlyDictionary<string, int> kept) =>
        0.5 + 0.3 * kept["conv1"] / 32.0 - 0.3 * kept["conv3"] / 128.0;

    /// <summary>Mean synthetic score of <paramref name="episodes"/> episodes of uniformly random actions through the wall.</summary>
    public static double RandomMean(PolicySpace space, int episodes, int seed)
    {
        var random = new Random(seed);
        var environment = new PruningEnvironment(space);
        double sum = 0;
        for (int e = 0; e < episodes; e++)
        {
            environment.Reset();
            for (int g = 0; g < space.Count; g++) environment.Act(random.NextDouble());
            sum += Synthetic(space.ById(environment.Kept));
        }
        return sum / episodes;
    }
}
