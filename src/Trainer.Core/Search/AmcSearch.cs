using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>
/// AMC's search (He et al. 2018, <c>amc_search.py</c>): each episode walks the groups in execution order, the agent picks a
/// keep ratio per group (uniformly at random during warm-up, then the actor's plus decaying truncated-normal noise), the
/// wall keeps the episode within the budget, the scorer scores the resulting policy, and every transition of the episode
/// is stored with the episode's reward; after warm-up each stored step is followed by one DDPG update.
/// </summary>
public static class AmcSearch
{
    /// <summary>Searches per-group kept counts in <paramref name="space"/> that maximise the reward of <paramref name="scorer"/>.</summary>
    /// <param name="space">Groups, budget, floor.</param>
    /// <param name="scorer">Scores a policy (e.g. <see cref="TaskPolicyScorer"/>).</param>
    /// <param name="options">Agent and search settings; AMC's defaults when null.</param>
    /// <param name="logger">Receives one line per episode.</param>
    /// <returns>The best policy (method "amc") and one trial per episode.</returns>
    public static SearchResult Run(PolicySpace space, IPolicyScorer scorer, DdpgOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(scorer);
        options ??= new DdpgOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        var environment = new PruningEnvironment(space, options.ExactBudget);
        using var agent = new DdpgAgent(PruningEnvironment.StateSize, options.ReplayPerGroup * space.Count, options);
        var log = new TrialLog("amc", space);
        var steps = new List<(float[] State, double Action, float[] Next, bool Done)>(space.Count);
        for (int episode = 0; episode < options.Episodes; episode++)
        {
            steps.Clear();
            var state = environment.Reset();
            bool done = false;
            while (!done)
            {
                double action = episode < options.WarmupEpisodes ? agent.RandomAction() : agent.SelectAction(state, episode);
                var (next, finished, _) = environment.Act(action);
                steps.Add((state, action, next, finished));
                state = next;
                done = finished;
            }
            var kept = environment.Kept.ToArray();
            var score = scorer.Score(space.ById(kept));
            long macs = space.MacsOf(kept);
            double reward = PolicyReward.Of(options.Reward, score, macs);
            log.Add(episode, kept, score.Score, reward);
            foreach (var (s, a, next, terminal) in steps)
            {
                agent.Observe(new Transition(s, (float)a, (float)reward, next, terminal));
                if (episode >= options.WarmupEpisodes) agent.Update();
            }
            logger.LogInformation("AMC episode {Episode}: reward {Reward:0.0000}, score {Score:0.0000}, MACs {Ratio:0.000}, kept {Kept}",
                episode, reward, score.Score, (double)macs / space.FullMacs, string.Join(",", kept));
        }
        return log.Result();
    }
}
